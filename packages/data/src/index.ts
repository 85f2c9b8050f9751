// Public API of @rlhfkit/data: DeepSpeed-Chat's datasets from local files, split, tokenized and batched for the three steps (commands: ./cli).
export * from './adapters';
export { DataError, type DataLocation } from './errors';
export { getShuffleIdx, MT19937, RandomState, randomInterval } from './np-random';
export { getSplitIndex, parseDataSplit, pyRound, splitBoundaries } from './split';
export { Sample, join } from './sample';
export { formatOf, readSplitRows, readTable, readArrowTable, readJsonTable, readParquetTable, parquetColumns, type DataFormat, type RawRow, type Table } from './readers';
export { filesForSplit, findInDatasetsCache, findSplitFiles, resolveDatasetRoot, splitOfFile } from './resolve';
export { loadFolderRows, loadRawDataset, type RawDataset, type RawLoadOptions } from './raw-dataset';
export * from './prompt-dataset';
export * from './demo';
export * from './tokenize';
export * from './collators';
export { cacheFiles, cacheKey, CACHE_FORMAT, writeFileAtomic } from './cache';
export * from './step-datasets';
export * from './loader';
export { dataInfo, formatDataInfo, type DataInfo, type DataInfoOptions, type PhaseInfo, type SplitInfo } from './info';
