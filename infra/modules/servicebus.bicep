// Service Bus namespace (Entra ID only), the queue the CRM publishes "customer signed MCA" events to, and the
// notifications queue the app answers the CRM on (an enhanced attestation's acceptance link and terminal states).
//
// Queue properties and why (the retry policy itself lives in the app; see docs/deployment.md):
// - lockDuration PT5M (the maximum). One delivery makes up to ATTEST_IN_CALL_ATTEMPTS (3) HTTP attempts,
//   each bounded by the client timeout, with in-call backoff that honours Retry-After (up to about a
//   minute). Five minutes covers that worst case even if a lock renewal is missed; the host also renews
//   the lock. The price, a crashed instance holding a message for up to five minutes, is irrelevant for
//   a workload whose own retries are 30 s to 1 h apart.
// - maxDeliveryCount 5. The app settles every message itself (autoCompleteMessages false); a scheduled
//   retry is a NEW message with its own delivery count. So this only counts crashes and lost locks: five
//   survives a couple of host restarts or scale-ins, and a message that keeps crashing the worker reaches
//   the dead-letter queue (MaxDeliveryCountExceeded) within about 25 minutes instead of looping.
// - requiresDuplicateDetection true, window P1D (parameter). Publishers set MessageId = event id + a
//   digest of the body (shared/servicebus/messages.py), so a CRM re-send of the same event (publisher retry after
//   a timeout, a same-day batch re-run) is dropped by the broker while a correction is delivered. A day covers those re-sends and the whole scheduled-retry chain (~2 h); re-sends
//   older than that still reach the app, which is idempotent (Partner Center answers 600061 and the app
//   records already_attested). Scheduled retry copies and dead-letter replays MUST carry a new MessageId
//   (shared/servicebus/messages.py derives one per message and attempt), or the broker silently drops them. Duplicate
//   detection cannot be switched on or off after the queue exists.
// - defaultMessageTimeToLive P14D with deadLetteringOnMessageExpiration true: an outage longer than two
//   weeks sends events to the dead-letter queue (reason TTLExpiredException) instead of deleting them.
//
// The notifications queue follows the same conventions (lock, delivery count, TTL with dead-lettering on expiry,
// duplicate detection with the same window). The app is its only sender; when it derives each MessageId from the
// attestation and the state reported (never a random id), a notification re-sent after a lost settlement or a
// redelivered event reaches the CRM once. The CRM receives from it; one left unread for two weeks is dead-lettered.

param namespaceName string
param queueName string

@description('Queue the app sends CRM notifications to (enhanced attestation: acceptance link, terminal states).')
param notificationsQueueName string

param location string
param tags object = {}

@description('How long the broker remembers a MessageId to drop re-sends (ISO 8601, PT20S to P7D).')
param duplicateDetectionWindow string = 'P1D'

@description('Lock duration of one delivery (ISO 8601, at most PT5M).')
param lockDuration string = 'PT5M'

@description('Deliveries before the broker dead-letters a message (crashes and lost locks only).')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int = 5

@description('Time to live of an unprocessed event; on expiry it is dead-lettered.')
param messageTimeToLive string = 'P14D'

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: namespaceName
  location: location
  tags: tags
  // Standard: duplicate detection and scheduled messages need Standard or Premium; Premium (private
  // endpoints, CMK) costs ~20x more for a low-volume queue.
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: queueName
  properties: {
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: messageTimeToLive
    requiresSession: false
    enablePartitioning: false
    enableBatchedOperations: true
    maxSizeInMegabytes: 1024
  }
}

resource notificationsQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: notificationsQueueName
  properties: {
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: messageTimeToLive
    requiresSession: false
    enablePartitioning: false
    enableBatchedOperations: true
    maxSizeInMegabytes: 1024
  }
}

output namespaceId string = namespace.id
output namespaceName string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output queueId string = queue.id
output queueName string = queue.name
output notificationsQueueId string = notificationsQueue.id
output notificationsQueueName string = notificationsQueue.name
