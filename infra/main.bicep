// ci-braze-export: everything the app needs in one resource group, following the Azure Functions Flex
// Consumption quickstarts: one user-assigned managed identity for every connection, no shared keys, the Braze
// key in Key Vault, least-privilege role assignments. Deploy with `azd up` or `az deployment group create`
// (see docs/deployment.md).
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Environment name (the azd environment); part of the hash in every resource name.')
param environmentName string

@description('Region of all resources; must offer the Flex Consumption plan.')
param location string = resourceGroup().location

@description('Braze REST host of the workspace, e.g. rest.iad-03.braze.com.')
@minLength(1)
param brazeRestEndpoint string

@secure()
@description('Braze REST API key with the users.track permission. Optional: leave empty and set the Key Vault secret later.')
param brazeApiKey string = ''

@description('The export config (the shape of export.config.sample.json).')
param exportConfig object

@description('NCRONTAB schedule of the export timer, in UTC; leave time for the Customer Insights export to finish.')
param exportSchedule string = '0 30 3 * * *'

@description('Name of the existing storage account Customer Insights exports to.')
@minLength(1)
param ciExportStorageAccountName string

@description('Resource group of that account. Empty: this deployment\'s resource group.')
param ciExportResourceGroupName string = ''

@description('Subscription id of that account. Empty: this deployment\'s subscription.')
param ciExportSubscriptionId string = ''

@description('Container Customer Insights exports to.')
@minLength(1)
param ciExportContainerName string

@description('Folder in that container holding the export\'s model.json, e.g. CustomerInsights_<instance id>/BrazeExport.')
param ciExportPath string

@description('Email address notified when an export run fails. Empty: no notification.')
param alertEmail string = ''

@description('Principal (object) id allowed to set the Braze key in Key Vault (Key Vault Secrets Officer). Default: whoever deploys; empty: nobody.')
param secretsOfficerPrincipalId string = deployer().objectId

@description('Principal type of secretsOfficerPrincipalId (azd passes AZURE_PRINCIPAL_TYPE).')
@allowed(['User', 'Group', 'ServicePrincipal'])
param secretsOfficerPrincipalType string = 'User'

@description('App settings beyond the template\'s own, e.g. tuning values ({ "BRAZE_CONCURRENCY": "32" }); kept on every redeployment.')
param additionalAppSettings object = {}

@description('Private networking: VNet integration of the app, and private endpoints for its storage account and Key Vault.')
param vnetEnabled bool = false

@description('Upper bound of Flex Consumption instances.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each Flex Consumption instance, in MB (a sync of 1 million profiles peaks under 400 MB, of 5 million under 1 GB).')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
// Defaults of STATE_CONTAINER and RUN_QUEUE_NAME in shared/config/settings.ts; set explicitly so the app
// and the resources created here cannot drift apart.
var stateContainerName = 'ci-braze-state'
var runQueueName = 'export-runs'
var runPoisonQueueName = 'export-runs-poison'
var brazeApiKeySecretName = 'braze-api-key'
var ciExportSubscription = empty(ciExportSubscriptionId) ? subscription().subscriptionId : ciExportSubscriptionId
var ciExportResourceGroup = empty(ciExportResourceGroupName) ? resourceGroup().name : ciExportResourceGroupName

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${resourceToken}'
  location: location
  tags: tags
}

module storage 'storage.bicep' = {
  name: 'storage'
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    containerNames: [deploymentContainerName, stateContainerName]
    queueNames: [runQueueName, runPoisonQueueName]
    privateNetworking: vnetEnabled
  }
}

module keyVault 'keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    brazeApiKeySecretName: brazeApiKeySecretName
    brazeApiKey: brazeApiKey
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    privateNetworking: vnetEnabled
  }
}

module network 'network.bicep' = if (vnetEnabled) {
  name: 'network'
  params: {
    name: 'vnet-${resourceToken}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
  }
}

module monitoring 'monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    runFunctionNames: ['runWorker', 'runPoison']
    timerFunctionName: 'scheduledExport'
    alertEmail: alertEmail
  }
}

module workbook 'workbook.bicep' = {
  name: 'workbook'
  params: {
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    location: location
    tags: tags
  }
}

module rbac 'rbac/app.bicep' = {
  name: 'rbac'
  params: {
    identityPrincipalId: identity.properties.principalId
    hostStorageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    secretsOfficerPrincipalId: secretsOfficerPrincipalId
    secretsOfficerPrincipalType: secretsOfficerPrincipalType
  }
}

resource ciExportAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: ciExportStorageAccountName
  scope: resourceGroup(ciExportSubscription, ciExportResourceGroup)
}

module ciExportReader 'rbac/ciExportReader.bicep' = {
  name: 'ci-export-reader-${resourceToken}'
  scope: resourceGroup(ciExportSubscription, ciExportResourceGroup)
  params: {
    identityPrincipalId: identity.properties.principalId
    storageAccountName: ciExportStorageAccountName
    containerName: ciExportContainerName
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.id
    identityClientId: identity.properties.clientId
    hostStorageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    stateContainerName: stateContainerName
    runQueueName: runQueueName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    ciExportBlobServiceUri: ciExportAccount.properties.primaryEndpoints.blob
    ciExportContainerName: ciExportContainerName
    ciExportPath: ciExportPath
    brazeRestEndpoint: brazeRestEndpoint
    brazeApiKeySecretUri: keyVault.outputs.brazeApiKeySecretUri
    exportConfig: exportConfig
    exportSchedule: exportSchedule
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    additionalAppSettings: additionalAppSettings
    virtualNetworkSubnetId: vnetEnabled ? network.outputs.appSubnetId : ''
  }
  // The host starts as soon as the app exists: give it its storage, Key Vault and CI export access (and, with
  // vnetEnabled, the private endpoints it reaches them by) first.
  dependsOn: [
    rbac
    ciExportReader
    network
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output FUNCTION_APP_URL string = 'https://${api.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output BRAZE_API_KEY_SECRET_NAME string = brazeApiKeySecretName
output STATE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
