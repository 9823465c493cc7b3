/** Errors about the user's data. Always name the file at fault. */

export class DataError extends Error {
  /** The file the error is about (image, mask, list file or description). */
  readonly file: string;
  /** What is wrong with it (the message without the file name). */
  readonly reason: string;
  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'DataError';
    this.file = file;
    this.reason = reason;
  }
}

/** A file left out of a dataset, and why. */
export interface BadFile {
  path: string;
  reason: string;
}

/** Something converted on the fly (grey-scale, CMYK, EXIF rotation): reported, not rejected. */
export interface DataNote {
  path: string;
  note: string;
}
