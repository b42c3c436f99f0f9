// The function app on a Flex Consumption plan. Everything it reaches (host storage, deployment package, Key
// Vault, the CI export account, Application Insights) is reached with one user-assigned managed identity.

param name string
param planName string
param location string
param tags object = {}

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Name of the host storage account (AzureWebJobsStorage, deployment package, run state).')
param hostStorageAccountName string

param deploymentContainerName string
param stateContainerName string
param runQueueName string

param applicationInsightsName string

@description('Blob service URI of the storage account Customer Insights exports to.')
param ciExportBlobServiceUri string

param ciExportContainerName string
param ciExportPath string

param brazeRestEndpoint string

@description('Versionless URI of the Key Vault secret holding the Braze REST API key.')
param brazeApiKeySecretUri string

@description('The export config, stored in the EXPORT_CONFIG app setting as JSON.')
param exportConfig object

@description('NCRONTAB schedule of the scheduledExport timer.')
param exportSchedule string

@description('Upper bound of instances the plan scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int

@description('App settings the template does not own (tuning values, see docs/deployment.md), merged into the ones it sets.')
param additionalAppSettings object = {}

@description('Resource id of the subnet for VNet integration (delegated to Microsoft.App/environments). Empty: none.')
param virtualNetworkSubnetId string = ''

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (BRAZE_API_KEY) resolve with the user-assigned identity, not a system identity.
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Basic (user name and password) publishing credentials are off: deployments authenticate with Entra ID (azd,
// Core Tools and the az CLI all do), so a leaked publish profile cannot replace the code.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

// The settings this template owns. Names are the contract of shared/config/settings.ts (SETTINGS, inAzure
// 'template'); tests/infra checks them. The appsettings resource replaces the whole collection on every
// deployment, so a setting made with `az functionapp config appsettings set` is lost on the next one: tuning
// values go in additionalAppSettings, merged in here, and the template's own settings win over them.
var templateAppSettings = {
  AzureWebJobsStorage__blobServiceUri: hostStorage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: hostStorage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: hostStorage.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  CI_EXPORT_STORAGE__blobServiceUri: ciExportBlobServiceUri
  CI_EXPORT_STORAGE__credential: 'managedidentity'
  CI_EXPORT_STORAGE__clientId: identityClientId
  CI_EXPORT_CONTAINER: ciExportContainerName
  CI_EXPORT_PATH: ciExportPath
  STATE_STORAGE__blobServiceUri: hostStorage.properties.primaryEndpoints.blob
  STATE_STORAGE__queueServiceUri: hostStorage.properties.primaryEndpoints.queue
  STATE_STORAGE__credential: 'managedidentity'
  STATE_STORAGE__clientId: identityClientId
  STATE_CONTAINER: stateContainerName
  RUN_QUEUE_NAME: runQueueName
  BRAZE_REST_ENDPOINT: brazeRestEndpoint
  BRAZE_API_KEY: '@Microsoft.KeyVault(SecretUri=${brazeApiKeySecretUri})'
  EXPORT_CONFIG: string(exportConfig)
  EXPORT_SCHEDULE: exportSchedule
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(additionalAppSettings, templateAppSettings)
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
