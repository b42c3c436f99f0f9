export { discoverExport, type DiscoverOptions } from './discover';
export type { ColumnTyping } from './bareColumns';
export { readPartition, type ReadPartitionOptions } from './readPartition';
export { SourceError, SourceReadError } from './errors';
export type * from './types';
