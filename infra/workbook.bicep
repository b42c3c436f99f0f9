// An Azure Monitor workbook of export runs, built from the one "run metrics" trace each finished run logs
// (shared/telemetry/metrics.ts) and the "run failed" traces of failed runs (shared/run/service.ts). Open it from
// the Application Insights resource: Workbooks > ci-braze-export runs.

param applicationInsightsId string
param location string
param tags object = {}

@description('Title of the workbook in the portal.')
param displayName string = 'ci-braze-export runs'

// The Functions host logs `run metrics {json}` as the trace message; a logger that sends properties as custom
// dimensions logs the bare message instead. Both shapes are read.
var runMetricsKql = '''
let runMetrics = traces
| where message == "run metrics" or message startswith "run metrics {"
| extend m = iff(message == "run metrics", todynamic(customDimensions), parse_json(substring(message, strlen("run metrics "))))
| extend runId = tostring(m.runId), status = tostring(m.status), dryRun = tobool(m.dryRun),
    profilesRead = tolong(m.profilesRead), usersSent = tolong(m.usersSent), attributesSent = tolong(m.attributesSent),
    attributesFullResend = tolong(m.attributesFullResend), membershipsAdded = tolong(m.membershipsAdded),
    membershipsRemoved = tolong(m.membershipsRemoved), membershipsRemovalHeld = tolong(m.membershipsRemovalHeld),
    rejected = tolong(m.rejected), requests = tolong(m.requests), throttled = tolong(m.throttled),
    retries = tolong(m.retries), durationMs = tolong(m.durationMs), profilesPerSecond = tolong(m.profilesPerSecond)
| summarize arg_max(timestamp, *) by runId;
let failedRuns = traces
| where message startswith "run failed"
| extend runId = tostring(parse_json(extract(@"(\{.*\})\s*$", 1, message)).runId), status = "failed"
| summarize arg_max(timestamp, *) by runId;
'''

var charts = [
  {
    name: 'runsByStatus'
    title: 'Runs by status'
    visualization: 'barchart'
    kql: '''
union (runMetrics | project timestamp, runId, status), (failedRuns | project timestamp, runId, status)
| summarize runs = dcount(runId) by status, bin(timestamp, 1d)
'''
  }
  {
    name: 'profilesPerRun'
    title: 'Profiles read, users and attributes sent per run'
    visualization: 'timechart'
    kql: '''
runMetrics
| project timestamp, profilesRead, usersSent, attributesSent
| order by timestamp asc
'''
  }
  {
    name: 'throttling'
    title: 'Requests, throttling (429) and retries per run'
    visualization: 'timechart'
    kql: '''
runMetrics
| project timestamp, requests, throttled, retries
| order by timestamp asc
'''
  }
  {
    name: 'rejected'
    title: 'Rejected rows and held removals per run'
    visualization: 'timechart'
    kql: '''
runMetrics
| project timestamp, rejected, membershipsRemovalHeld
| order by timestamp asc
'''
  }
  {
    name: 'duration'
    title: 'Duration (minutes) and profiles per second'
    visualization: 'timechart'
    kql: '''
runMetrics
| project timestamp, durationMinutes = round(durationMs / 60000.0, 1), profilesPerSecond
| order by timestamp asc
'''
  }
  {
    name: 'recentRuns'
    title: 'Recent runs'
    visualization: 'table'
    kql: '''
union
  (runMetrics | project timestamp, runId, status, dryRun, profilesRead, usersSent, attributesSent, attributesFullResend,
     membershipsAdded, membershipsRemoved, membershipsRemovalHeld, rejected, requests, throttled, retries, durationMs),
  (failedRuns | project timestamp, runId, status)
| order by timestamp desc
| take 100
'''
  }
]

var header = [
  {
    type: 1
    name: 'intro'
    content: {
      json: '## Export runs\nOne row per finished run: counts from its `run metrics` trace, failures from `run failed` traces. Detail of a run: `runs/<runId>/report.html` in the state container (docs/operations.md).'
    }
  }
  {
    type: 9
    name: 'parameters'
    content: {
      version: 'KqlParameterItem/1.0'
      parameters: [
        {
          id: 'a6d1b1f2-3c4e-4f5a-8b6c-7d8e9f0a1b2c'
          version: 'KqlParameterItem/1.0'
          name: 'TimeRange'
          label: 'Time range'
          type: 4
          isRequired: true
          value: {
            durationMs: 2592000000
          }
          typeSettings: {
            selectableValues: [
              { durationMs: 86400000 }
              { durationMs: 604800000 }
              { durationMs: 2592000000 }
              { durationMs: 7776000000 }
            ]
          }
        }
      ]
      style: 'pills'
      queryType: 0
      resourceType: 'microsoft.insights/components'
    }
  }
]

var chartItems = map(charts, chart => {
  type: 3
  name: chart.name
  content: {
    version: 'KqlItem/1.0'
    query: '${runMetricsKql}${chart.kql}'
    size: 0
    title: chart.title
    timeContextFromParameter: 'TimeRange'
    queryType: 0
    resourceType: 'microsoft.insights/components'
    visualization: chart.visualization
  }
})

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, applicationInsightsId, 'ci-braze-export-runs')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    version: 'Notebook/1.0'
    serializedData: string({
      version: 'Notebook/1.0'
      items: concat(header, chartItems)
      isLocked: false
      fallbackResourceIds: [applicationInsightsId]
    })
  }
}

output workbookId string = workbook.id
