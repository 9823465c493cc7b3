/** Public API of the training module: the loop, its callbacks, losses, optimizers and checkpoints (and, for convenience, model I/O from src/models/io.ts). */
export * from './loop';
export * from './losses';
export * from './optim';
export * from './callbacks';
export * from './checkpoint';
export { META_FILE, ModelFileError, fileSaveHandler, readModelArtifacts, registerModelLayers, writeDirAtomic, saveModel, loadModel, resolveModelJson, checkMeta, readModelMeta } from '../models/io';
export { renderCurves, curvesSvg } from './curves';
