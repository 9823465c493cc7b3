/**
 * The interface names of portraitseg's .tflite files (kept apart from the writer so that
 * callers that only need the names do not load the TFLite schema bindings).
 */
export const TFLITE_INPUT = 'image';
export const TFLITE_OUTPUT = 'logits';
export const TFLITE_SIGNATURE = 'serving_default';
