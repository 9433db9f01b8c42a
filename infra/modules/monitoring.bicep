// Log Analytics workspace and a workspace-based Application Insights component.

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

@description('Days of log retention in the workspace.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 90

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
  }
}

output workspaceId string = workspace.id
output workspaceName string = workspace.name
output applicationInsightsId string = appInsights.id
output applicationInsightsName string = appInsights.name
// The connection string is an ingestion endpoint plus instrumentation key, not a credential for reading
// data; Microsoft documents passing it as an app setting. It is not exported as a deployment output.
