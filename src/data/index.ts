/** Public API of src/data: datasets, decoding, bad-file reports, splits, cache, loader, synthetic data. */
export type { Sample, SampleRef, HostBatch } from './types';
export { DataError } from './errors';
export type { BadFile, DataNote } from './errors';
export { openDataset, scanDataset, validateDataset, knownDatasets, resolveSpec, readDescription, mapLimit, LAYOUTS, IMAGE_EXTENSIONS, DATASETS_DIR } from './dataset';
export type { Dataset, DatasetDescription, Layout, OpenOptions, ScanOptions, ScanResult, ScanItem } from './dataset';
export { loadSample, decodeMask, decodeImageChecked, decodeImageAt, resizeGray, binarise, normaliseLabelMask, trivialMaskReason } from './sample';
export type { LoadOptions, MaskMode } from './sample';
export { splitRefs, hash32 } from './split';
export { SampleCache } from './cache';
export type { CacheOptions, CacheStats } from './cache';
export { DataLoader } from './loader';
export type { LoaderOptions, LoaderStats } from './loader';
export { synthSample, proceduralBackground, writeSynthDataset, coverage } from './synth';
export { loadBackgrounds } from './backgrounds';
export type { SynthOptions, WriteSynthOptions, SynthDatasetInfo } from './synth';
export { inspectDataset, formatReport, overlayMask, writeContactSheet } from './inspect';
export type { InspectOptions, InspectReport } from './inspect';
