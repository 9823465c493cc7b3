/** Public API of the training module: the loop, its callbacks, losses, optimizers and checkpoints. */
export * from './loop';
export * from './losses';
export * from './optim';
export * from './callbacks';
export * from './checkpoint';
export { renderCurves, curvesSvg, PYTORCH_REFERENCE } from './curves';
