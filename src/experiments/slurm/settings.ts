/**
 * The `slurm:` section of a study: what each array task asks the cluster for, and how the coordinator
 * treats jobs that end early. Everything is optional; an empty section submits with the cluster's defaults.
 */
import {z} from 'zod';

/** Slurm's time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS. */
const SLURM_TIME = /^(\d+-\d+(:\d+(:\d+)?)?|\d+(:\d+(:\d+)?)?)$/;
/** Slurm's memory sizes: a number with an optional K/M/G/T suffix. */
const SLURM_MEM = /^\d+[KMGT]?$/i;

export const slurmSchema = z
  .object({
    partition: z.string().min(1).optional(),
    account: z.string().min(1).optional(),
    qos: z.string().min(1).optional(),
    /** Time limit per array task, in Slurm's format (`--time`). */
    time: z.union([z.string().regex(SLURM_TIME, 'a Slurm time limit: MM, HH:MM:SS, D-HH or D-HH:MM:SS'), z.number().int().min(1)]).optional(),
    /** GPUs per trial (`--gres=gpu:N`); Slurm sets CUDA_VISIBLE_DEVICES. */
    gpus_per_trial: z.number().int().min(0).max(64).default(0),
    /** CPUs per trial (`--cpus-per-task`); also the engine's thread count. */
    cpus_per_task: z.number().int().min(1).max(1024).optional(),
    /** Memory per trial (`--mem`), e.g. 8G. */
    mem: z.union([z.string().regex(SLURM_MEM, 'a Slurm memory size such as 4000, 8G or 512M'), z.number().int().min(1)]).optional(),
    /** Array tasks that run at once (the `%N` throttle of each array). */
    max_parallel: z.number().int().min(1).optional(),
    /** Extra `#SBATCH` lines, e.g. `--constraint=a100` (the `#SBATCH` prefix is optional). */
    sbatch: z.array(z.string().min(1)).default([]),
    /** Shell lines run before the worker in each job (module loads, venv activation). */
    setup: z.array(z.string()).default([]),
    /** Shared folder for run folders, manifests, job scripts and logs; must be visible from every node. */
    run_dir: z.string().min(1).optional(),
    /** Seconds before the time limit at which Slurm asks the trial to checkpoint and stop (`--signal=B:USR1@N`). */
    signal_seconds: z.number().int().min(1).max(3600).default(90),
    /** Resubmissions of a trial that hit its time limit before it counts as failed. */
    max_timeouts: z.number().int().min(0).max(1000).default(3),
    /** Seconds between two polls of the queue (one `squeue` for all of the sweep's jobs). */
    poll_seconds: z.number().min(0.2).max(600).default(10),
  })
  .strict();

export type SlurmSettings = z.output<typeof slurmSchema>;
