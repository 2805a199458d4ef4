import * as fs from 'node:fs';
import * as path from 'node:path';
import {Args, Flags} from '@oclif/core';
import {AblateCommand} from '../base-command';
import {UsageError} from '../errors';

/** The commented study that `ablate init` writes (templates/ of the package). */
const TEMPLATE = path.resolve(__dirname, '..', '..', '..', 'templates', 'study.yaml');

export default class Init extends AblateCommand {
  static summary = 'Write a commented example study to start from.';

  static description = `Writes DIR/study.yaml (DIR: the current folder by default; created if missing): a small depth x plain/residual study on Fashion-MNIST in which every section is commented. Its name is the folder's. Nothing is overwritten unless --force. The ready studies run by name without init: ablate run smoke, ablate run depth-sweep.`;

  static examples = ['<%= config.bin %> init', '<%= config.bin %> init my-study', '<%= config.bin %> init my-study --force'];

  static enableJsonFlag = true;

  static args = {
    dir: Args.string({description: 'folder to write study.yaml into', default: '.'}),
  };

  static flags = {
    force: Flags.boolean({description: 'overwrite an existing study.yaml'}),
  };

  async run(): Promise<{file: string; name: string}> {
    const {args, flags} = await this.parse(Init);
    const file = path.join(args.dir, 'study.yaml');
    if (fs.existsSync(file) && !flags.force) {
      throw new UsageError(`${file} exists; nothing was written`, {hint: `edit it, choose another folder (ablate init DIR), or overwrite it with --force`});
    }
    // The sweep's name in the database: the folder's name, as a plain identifier.
    const name = path.basename(path.resolve(args.dir)).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'my-study';
    const text = fs.readFileSync(TEMPLATE, 'utf8').replace(/^name: .*$/m, `name: ${name}`);
    fs.mkdirSync(args.dir, {recursive: true});
    fs.writeFileSync(file, text);
    if (!this.jsonEnabled()) {
      this.log(`wrote ${file} (study ${name})`);
      const shown = /\s/.test(file) ? JSON.stringify(file) : file;
      this.log(`next: ablate plan ${shown}, then ablate run ${shown}; results go to ./results/`);
    }
    return {file, name};
  }
}
