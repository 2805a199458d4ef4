/**
 * Learning-rate schedules, evaluated per iteration (He et al. 2016 §4.2 divide the rate at fixed
 * iteration counts, not at epoch boundaries): `progress` is the epoch position, e.g. 2.5 = half-way
 * through the third epoch.
 */
import type {TrainConfig} from './config';

export function learningRate(train: TrainConfig, progress: number): number {
  const base = train.optimizer.lr;
  const s = train.schedule;
  // Linear warm-up from base/10 (a gentle start, as He et al. use 0.01 before 0.1 for ResNet-110).
  if (s.warmup_epochs > 0 && progress < s.warmup_epochs) {
    return base * (0.1 + 0.9 * (progress / s.warmup_epochs));
  }
  switch (s.name) {
    case 'constant':
      return base;
    case 'multistep':
      return base * Math.pow(s.gamma, s.milestones.filter((m) => progress >= m).length);
    case 'cosine': {
      const t = (progress - s.warmup_epochs) / Math.max(1e-9, train.epochs - s.warmup_epochs);
      return s.min_lr + 0.5 * (base - s.min_lr) * (1 + Math.cos(Math.PI * Math.min(1, t)));
    }
  }
}
