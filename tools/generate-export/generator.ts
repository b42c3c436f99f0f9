/** Public API of the sample CI export generator. */
export { profilesAtRun, DEFAULT_SEGMENTS, type GeneratedProfile, type SegmentSpec } from './profiles';
export { containerSink, folderSink, type ExportSink } from './sinks';
export { COLUMNS, runFolderOf, sampleExportConfig, writeExport, type GeneratorOptions } from './writeExport';
