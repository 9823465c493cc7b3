/**
 * The portraitseg command lines a markdown page shows: lines of its code blocks that start with
 * `npx portraitseg` (or `npm run web --`), continued over trailing backslashes, with the shell
 * variables the block sets (`D="--data ..."`) expanded and `# comments` dropped; and inline code
 * spans that start with `portraitseg ` or `npx portraitseg ` (the command table and prose).
 * Usage notation is read as meant: `a|b` (or `a\|b` in a table) gives one line per alternative,
 * `[--flag X]` is the flag given, `...` is left out.
 */

export interface DocCommand {
  /** 1-based line in the page. */
  line: number;
  /** The text as shown. */
  text: string;
  /** The arguments after `portraitseg`. */
  argv: string[];
  /** An inline span that only names a command (`portraitseg label`), no flags: a mention, not a command line. */
  mention: boolean;
}

/** Shell-like words: whitespace-separated, single and double quotes grouping. */
function words(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function stripComment(s: string): string {
  return s.replace(/(^|\s)#.*$/, '').trim();
}

/** Usage notation: brackets of optional parts dropped, `...` left out, `a|b` (`a\|b`) one word list per alternative. */
function alternatives(raw: string[]): string[][] {
  const ws = raw.map((w) => w.replace(/[[\]]/g, '')).filter((w) => w && !/^(\.\.\.|…)$/.test(w));
  const i = ws.findIndex((w) => w.length > 1 && w.includes('|'));
  if (i < 0) return [ws];
  return ws[i].split(/\\?\|/).flatMap((alt) => alternatives([...ws.slice(0, i), alt, ...ws.slice(i + 1)]));
}

function argvOf(cmd: string[]): string[] | null {
  if (cmd[0] === 'npx' && cmd[1] === 'portraitseg') return cmd.slice(2);
  if (cmd[0] === 'portraitseg') return cmd.slice(1);
  if (cmd[0] === 'npm' && cmd[1] === 'run' && cmd[2] === 'web' && cmd[3] === '--') return ['web', ...cmd.slice(4)];
  return null;
}

export function docCommands(markdown: string): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = markdown.split('\n');
  let fence: string | null = null;
  let vars = new Map<string, string>();
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const f = /^\s*(```|~~~)/.exec(raw);
    if (f) {
      fence = fence ? null : f[1];
      vars = new Map();
      continue;
    }
    if (fence) {
      const start = i;
      let text = raw.trim();
      while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1).trim()} ${lines[++i].trim()}`;
      text = stripComment(text);
      const def = /^([A-Za-z_]\w*)="([^"]*)"$/.exec(text);
      if (def) {
        vars.set(def[1], def[2]);
        continue;
      }
      const expanded = text.replace(/\$\{?([A-Za-z_]\w*)\}?/g, (m, v: string) => vars.get(v) ?? m);
      for (const ws of alternatives(words(expanded))) {
        const argv = argvOf(ws);
        if (argv) out.push({ line: start + 1, text, argv, mention: false });
      }
      continue;
    }
    for (const m of raw.matchAll(/`((?:npx )?portraitseg [^`]+)`/g)) {
      for (const ws of alternatives(words(m[1]))) {
        const argv = argvOf(ws);
        if (argv) out.push({ line: i + 1, text: m[1], argv, mention: !argv.some((w) => w.startsWith('-')) });
      }
    }
  }
  return out;
}
