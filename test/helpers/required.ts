/**
 * Tests that need something outside the npm dependencies (Debian's chromium, ffmpeg) or an
 * optional dependency (LiteRT.js, onnxruntime-node): where it is missing they skip with a line
 * saying what is missing, except under CI=true, where a missing tool is a failure naming it
 * (.ci/run installs them all), so that no check skips in silence there.
 */

/** True under CI=true (or CI=1): missing tools fail instead of skipping. */
export function onCi(): boolean {
  return /^(true|1)$/i.test(process.env.CI ?? '');
}

/** What a missing tool means here: a failure under CI=true, a skip with a printed line otherwise. */
export function missing(ctx: Mocha.Context, what: string, why: string): never {
  if (onCi()) throw new Error(`CI=true: ${what} is required but missing: ${why}`);
  console.log(`      (skipped: ${what} is missing: ${why})`);
  ctx.skip();
}

/** `missing` when `why` is non-null. */
export function requireTool(ctx: Mocha.Context, what: string, why: string | null | false | undefined): void {
  if (why) missing(ctx, what, why);
}
