// Key Vault holding the Braze REST API key. Access is by Azure RBAC only (no access policies); soft delete and
// purge protection keep a deleted key recoverable.

@description('Key Vault name: 3-24 letters, digits and hyphens.')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object = {}

@description('Name of the secret holding the Braze REST API key.')
param brazeApiKeySecretName string

@secure()
@description('Braze REST API key. Empty: the secret is not touched, so it can be set later with az keyvault secret set.')
param brazeApiKey string = ''

@description('Log Analytics workspace receiving the vault\'s audit log (every secret read and change).')
param logAnalyticsWorkspaceId string

@description('Reached through a private endpoint only (vnetEnabled): public network access is disabled.')
param privateNetworking bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
  }
}

resource brazeApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(brazeApiKey)) {
  parent: vault
  name: brazeApiKeySecretName
  properties: {
    value: brazeApiKey
    contentType: 'Braze REST API key (users.track)'
  }
}

// The audit category group: who read or changed which secret, when, from where. Without it, a read of the Braze
// key leaves no trace.
resource auditLog 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
output id string = vault.id
// Versionless URI: the app picks up a rotated key without a redeployment. Built from the vault URI rather than
// from the secret resource, because the secret may be created after this deployment.
output brazeApiKeySecretUri string = '${vault.properties.vaultUri}secrets/${brazeApiKeySecretName}'
