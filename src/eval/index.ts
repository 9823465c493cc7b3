/** Public API of src/eval: metrics, evaluation, the external-model adapter and stability. */
export * from './metrics';
export * from './evaluate';
export * from './external';
export * from './stability';
export * from './run';
