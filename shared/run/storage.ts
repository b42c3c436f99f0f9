import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { QueueClient, QueueServiceClient } from '@azure/storage-queue';
import type { StorageLocation } from '../config/settings';

/**
 * Storage clients from a `StorageLocation`: a connection string locally, the app's managed identity in Azure
 * (the user-assigned one when a client id is set, which is what the Functions host itself uses for triggers).
 */
export function createContainerClient(location: StorageLocation, containerName: string): ContainerClient {
  if (location.kind === 'connectionString') {
    return BlobServiceClient.fromConnectionString(location.connectionString).getContainerClient(containerName);
  }
  return new BlobServiceClient(location.blobServiceUri, credentialFor(location)).getContainerClient(containerName);
}

export function createQueueClient(location: StorageLocation, queueName: string): QueueClient {
  if (location.kind === 'connectionString') {
    return QueueServiceClient.fromConnectionString(location.connectionString).getQueueClient(queueName);
  }
  return new QueueServiceClient(queueServiceUri(location), credentialFor(location)).getQueueClient(queueName);
}

/** `<account>.queue.core.windows.net` when only the blob URI is configured (same account, other service). */
export function queueServiceUri(location: Extract<StorageLocation, { kind: 'identity' }>): string {
  if (location.queueServiceUri) return location.queueServiceUri;
  const url = new URL(location.blobServiceUri);
  if (!url.hostname.includes('.blob.')) {
    throw new Error(
      'STATE_STORAGE__queueServiceUri is not set and cannot be derived from STATE_STORAGE__blobServiceUri',
    );
  }
  url.hostname = url.hostname.replace('.blob.', '.queue.');
  return url.toString();
}

/**
 * A client id names the app's user-assigned identity (Azure): ask that identity directly instead of probing the
 * DefaultAzureCredential chain first. Without one (a developer's machine), the chain finds `az login` and the like.
 */
function credentialFor(location: Extract<StorageLocation, { kind: 'identity' }>): TokenCredential {
  return location.clientId
    ? new ManagedIdentityCredential({ clientId: location.clientId })
    : new DefaultAzureCredential();
}

/** Kept importable from here, beside the clients whose errors it reads; classified in shared/errors.ts. */
export { storageStatus } from '../errors';
