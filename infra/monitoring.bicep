// Monitoring: a Log Analytics workspace, workspace-based Application Insights that accepts only Entra ID
// authenticated telemetry, and an alert on failed export runs.

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

@description('Functions that end a run: the queue worker and the poison-queue handler. They log "run failed ..." at error level.')
param runFunctionNames array

@description('The timer function; a failed invocation means a scheduled run was never started.')
param timerFunctionName string

@description('Email address that receives failed-run alerts. Empty: the alert fires without notifying anyone.')
param alertEmail string = ''

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // Telemetry must be sent with the app's managed identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
    DisableLocalAuth: true
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${applicationInsightsName}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'cibrazeops'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var runFunctionList = join(map(runFunctionNames, functionName => '"${functionName}"'), ', ')

// A run failed when the worker or the poison handler logged "run failed" at error level (shared/run/service.ts),
// or when the timer failed and so never started the scheduled run. Retried worker attempts are not failures.
var failedRunsQuery = format(
  '''
union isfuzzy=true
  (traces | where operation_Name in ({0}) and severityLevel >= 3 and message startswith "run failed"),
  (requests | where operation_Name == "{1}" and success == false)
| project timestamp, operation_Name, itemType
''',
  runFunctionList,
  timerFunctionName
)

resource failedRunsAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-failed-runs-${applicationInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'ci-braze-export: export run failed'
    description: 'An export run failed: see the run record (GET /api/exports/runs/{runId}) and the function logs.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: failedRunsQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: empty(alertEmail) ? [] : [actionGroup.id]
    }
  }
}

output applicationInsightsName string = applicationInsights.name
output applicationInsightsId string = applicationInsights.id
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsId string = logAnalytics.id
