/** `portraitseg web`: serve the live background-blur page (web/) and exported models on this machine. */
import * as fs from 'fs';
import type { CommandModule } from 'yargs';
import { UsageError } from '../common';

interface WebArgs {
  models?: string;
  port?: number;
  host?: string;
}

export const webCommand: CommandModule<object, WebArgs> = {
  command: 'web',
  describe: 'serve the live background-blur page and exported models (http://127.0.0.1:8080/); Ctrl-C stops it',
  builder: (y) =>
    y
      .option('models', { type: 'string', describe: 'folder of exported models (each sub-folder with a model.json), or one export folder' })
      .option('port', { type: 'number', default: 8080, describe: 'TCP port (0 = any free port)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'interface to listen on; the page and models are served to loopback Host names only (and this one)' })
      .example('$0 web --models exported', 'then open http://127.0.0.1:8080/')
      .example('$0 web --models exported/student --port 9000', 'one export folder, served as the model "default"') as never,
  handler: async (argv) => {
    const port = argv.port ?? 8080;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${argv.port}: expected an integer 0..65535`);
    if (argv.models !== undefined) {
      if (!fs.existsSync(argv.models)) throw new UsageError(`--models ${argv.models}: not found`);
      if (!fs.statSync(argv.models).isDirectory()) throw new UsageError(`--models ${argv.models}: not a folder (give the export folder, or a folder of export folders)`);
    }
    // the server bundles the page with esbuild: loaded only by this command
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { startWebServer } = require('../../runtime/web-server') as typeof import('../../runtime/web-server');
    let server;
    try {
      server = await startWebServer({ port, host: argv.host ?? '127.0.0.1', models: argv.models ?? null, log: (l) => process.stderr.write(`${l}\n`) });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new UsageError(`--port ${port}: already in use (try another --port, or --port 0 for any free one)`);
      if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`--host ${argv.host}: not an address of this machine`);
      if (code === 'EACCES') throw new UsageError(`--port ${port}: permission denied (ports below 1024 need root)`);
      throw e;
    }
    process.stderr.write('Ctrl-C stops the server\n');
    const s = server;
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        void s.close().then(resolve);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  },
};
