// Read access for the app's managed identity to the container Customer Insights exports to. Deployed at the
// scope of the resource group that holds the (existing) CI export account, which may be in another
// subscription. Scoped to the container, not the account: the app reads nothing else there.

@description('Principal (object) id of the user-assigned managed identity.')
param identityPrincipalId string

@description('Name of the existing storage account Customer Insights exports to.')
param storageAccountName string

@description('Container Customer Insights exports to.')
param containerName string

// Storage Blob Data Reader: list and read blobs (model.json and the CSV partitions). No write, no delete.
var storageBlobDataReaderRoleId = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource container 'containers' existing = {
      name: containerName
    }
  }
}

resource exportReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account::blobService::container.id, identityPrincipalId, storageBlobDataReaderRoleId)
  scope: account::blobService::container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReaderRoleId)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}
