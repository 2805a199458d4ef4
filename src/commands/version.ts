import {AblateCommand} from '../base-command';

export default class Version extends AblateCommand {
  static summary = 'The version of ablate, and which engines this installation can run.';

  static description = `Prints ablate's version, platform and Node.js version (as --version does), then one line per engine: whether it can run here, with its versions, or why not and how to get it. Loads no TensorFlow.js; asks Python for its torch version.`;

  static examples = ['<%= config.bin %> version', '<%= config.bin %> --version', '<%= config.bin %> version --json'];

  static enableJsonFlag = true;

  async run(): Promise<unknown> {
    const {listEngines} = await import('../engine/catalog');
    const {engines} = listEngines();
    const result = {name: this.config.name, version: this.config.version, platform: `${this.config.platform}-${this.config.arch}`, node: process.version, engines};
    if (this.jsonEnabled()) return result;
    this.log(this.config.userAgent);
    const width = Math.max(...engines.map((e) => e.name.length));
    for (const e of engines) {
      const detail = e.available ? [e.version, e.device, e.note].filter(Boolean).join('; ') : e.note;
      this.log(`  ${e.name.padEnd(width)}  ${e.available ? 'available' : 'unavailable'}: ${detail}`);
    }
    return result;
  }
}
