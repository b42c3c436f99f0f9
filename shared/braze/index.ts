export { BrazeDelivery, MAX_BATCH_SIZE } from './delivery';
export { BRAZE_REST_HOSTS, resolveBrazeEndpoint, type ResolveBrazeEndpointOptions } from './endpoint';
export { createBrazeClient, type BrazeClient, type BrazeClientOptions } from './client';
export { TransportError, type HttpRequest, type HttpResponse, type HttpTransport } from './http';
export { apiKeyFormatProblem, setupProblem, statusKind, type StatusKind } from './statuses';
export { TokenBucket, throttleDelayInMs, resetDelayInMs, systemClock, type Clock } from './rateLimit';
export {
  BrazeFatalError,
  type BrazeAttributesObject,
  type BrazeDeliveryOptions,
  type DeliveryItem,
  type DeliveryStats,
  type RowResult,
} from './types';
