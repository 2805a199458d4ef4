import {BaseCommand} from '../base-command';

export default class Engines extends BaseCommand {
  static summary = 'List the training engines: available or not, version, device, and what `engine: auto` picks.';

  static description = `One row per engine: whether it can run on this machine, its library versions, the device it
computes on, and why not when it cannot. The last line says which engine \`resources.engine: auto\` (the default)
chooses here and why: torch on CUDA when a GPU and PyTorch are present, else native-cpu. The torch engine is
looked for in ABLATE_PYTHON, else python3 on the PATH, then /usr/bin/python3.`;

  static examples = ['<%= config.bin %> engines', '<%= config.bin %> engines --json'];

  static enableJsonFlag = true;

  async run(): Promise<unknown> {
    await this.parse(Engines);
    const {listEngines} = await import('../engine/catalog');
    const result = listEngines();
    if (this.jsonEnabled()) return result;
    const {renderTerminal} = await import('../report/render');
    this.log(
      renderTerminal({
        title: 'engines',
        head: ['engine', 'available', 'version', 'device', 'note'],
        align: ['left', 'left', 'left', 'left', 'left'],
        rows: result.engines.map((e) => [e.name, e.available ? 'yes' : 'no', e.version ?? '-', e.device ?? '-', e.note]),
        notes: [`auto: ${result.auto.engine} (${result.auto.reason})`],
      }).trimEnd(),
    );
    return result;
  }
}
