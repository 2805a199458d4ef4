/**
 * A real one-node Slurm for the tests (Debian's slurmctld/slurmd 22.05), started without systemd from a
 * slurm.conf in a temp folder: no munge (auth/none, test only), two fake GPUs (/dev/tty0-1 as GRES), a
 * low partition with a grace time that a high one preempts by requeueing, no accounting (jobcomp/filetxt),
 * and cred_expire=10 so that a requeued job starts again after ~11 s instead of 120 s.
 */
import {execFileSync, spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {tmpDir} from '../../helpers';

export const SLURM_INSTALLED = fs.existsSync('/usr/sbin/slurmctld') && fs.existsSync('/usr/sbin/slurmd');

export interface Cluster {
  dir: string;
  conf: string;
  env: Record<string, string>;
  /** Run a Slurm client command against this cluster. */
  run(cmd: string, args: string[]): string;
  /** Every job of the cluster so far, from the job completion log: `JobId=... JobName=... JobState=...` lines. */
  completions(): string[];
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startCluster(opts: {maxArraySize?: number} = {}): Promise<Cluster> {
  const dir = tmpDir('ablate-slurm-');
  for (const d of ['state', 'spool', 'log']) fs.mkdirSync(path.join(dir, d));
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const conf = path.join(dir, 'slurm.conf');
  fs.writeFileSync(
    conf,
    `ClusterName=ablatetest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=${ctldPort}
SlurmdPort=${dPort}
AuthType=auth/none
CredType=cred/none
AuthInfo=cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${dir}/slurmctld.pid
SlurmdPidFile=${dir}/slurmd.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobCompType=jobcomp/filetxt
JobCompLoc=${dir}/log/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
GresTypes=gpu
MaxArraySize=${opts.maxArraySize ?? 1001}
KillWait=10
MinJobAge=600
SchedulerParameters=sched_interval=1
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
NodeName=localhost NodeAddr=127.0.0.1 CPUs=4 RealMemory=8000 Gres=gpu:2 State=UNKNOWN
PartitionName=low Nodes=localhost Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=30
PartitionName=high Nodes=localhost MaxTime=INFINITE State=UP PriorityTier=2
`,
  );
  fs.writeFileSync(path.join(dir, 'gres.conf'), 'NodeName=localhost Name=gpu File=/dev/tty[0-1]\n');
  const env = {SLURM_CONF: conf};
  const spawnEnv = {...process.env, ...env};
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, {env: spawnEnv, encoding: 'utf8', timeout: 30_000});
  execFileSync('/usr/sbin/slurmctld', [], {env: spawnEnv});
  execFileSync('/usr/sbin/slurmd', ['-N', 'localhost'], {env: spawnEnv});
  const end = Date.now() + 30_000;
  for (;;) {
    const r = spawnSync('sinfo', ['-h', '-o', '%t', '-p', 'low'], {env: spawnEnv, encoding: 'utf8'});
    if (r.status === 0 && r.stdout.trim() === 'idle') break;
    if (Date.now() > end) throw new Error(`the test cluster did not come up: ${r.stdout}${r.stderr}\n${fs.readFileSync(path.join(dir, 'log', 'slurmctld.log'), 'utf8').slice(-2000)}`);
    spawnSync('sleep', ['0.2']);
  }
  return {
    dir,
    conf,
    env,
    run,
    completions: () => {
      try {
        return fs.readFileSync(path.join(dir, 'log', 'jobcomp.txt'), 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
    stop() {
      spawnSync('scancel', ['--full', '--user=root'], {env: spawnEnv});
      spawnSync('scontrol', ['shutdown'], {env: spawnEnv, timeout: 30_000});
      for (const pidFile of ['slurmctld.pid', 'slurmd.pid']) {
        const file = path.join(dir, pidFile);
        const until = Date.now() + 20_000;
        while (fs.existsSync(file) && Date.now() < until) {
          const pid = Number(fs.readFileSync(file, 'utf8'));
          try {
            process.kill(pid, 0);
          } catch {
            break;
          }
          spawnSync('sleep', ['0.2']);
        }
      }
    },
  };
}
