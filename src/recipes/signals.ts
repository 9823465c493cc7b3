/**
 * Ctrl-C (SIGINT) and SIGTERM (timeout, docker stop, systemd) end a run the same way: the first
 * one stops after the current step (the callbacks save a checkpoint), a second SIGINT exits at once.
 */
export interface SignalWiring {
  /** Removes the handlers. */
  off(): void;
  /** The signal that stopped the run, if any. */
  received(): NodeJS.Signals | null;
  /** The conventional exit status for it (128 + signal number), or null. */
  exitCode(): number | null;
}

const CODES: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

export function abortOnSignals(ac: AbortController, log: (l: string) => void, signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): SignalWiring {
  let got: NodeJS.Signals | null = null;
  let count = 0;
  let first = 0;
  const handler = (sig: NodeJS.Signals) => {
    // Wrappers (npm, shells) may pass the terminal's one Ctrl-C on as a second SIGINT: only a
    // second press at least a second later quits without saving.
    if (count === 1 && Date.now() - first < 1000) return;
    count++;
    if (count === 1) {
      got = sig;
      first = Date.now();
      const name = sig === 'SIGINT' ? 'Ctrl-C' : sig;
      log(`${name}: stopping after this step and saving a checkpoint${sig === 'SIGINT' ? ' (Ctrl-C again to quit without saving)' : ''}`);
      ac.abort();
    } else if (sig === 'SIGINT') {
      process.exit(130);
    }
  };
  for (const s of signals) process.on(s, handler);
  return {
    off: () => {
      for (const s of signals) process.off(s, handler);
    },
    received: () => got,
    exitCode: () => (got ? CODES[got] ?? 128 : null),
  };
}

/** Back-compat: Ctrl-C only; returns the function that removes the handler. */
export function abortOnSigint(ac: AbortController, log: (l: string) => void): () => void {
  return abortOnSignals(ac, log, ['SIGINT']).off;
}
