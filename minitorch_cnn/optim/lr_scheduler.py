"""Learning-rate schedules, in PyTorch's words: call ``scheduler.step()`` once per epoch
(or per iteration), after ``optimizer.step()``.

Each schedule is a closed-form function of the epoch count ``last_epoch`` and of
each group's starting rate ``base_lr`` (saved as ``group["initial_lr"]``):
``step()`` advances the count and writes ``get_lr()`` into every parameter group.
PyTorch's own schedulers compute the same numbers recursively from the current
rate (equal up to rounding); the closed forms here are easier to read but mean
that two schedulers stepping the same optimizer do not multiply: chain phases
with ``SequentialLR`` instead. ``ReduceLROnPlateau`` reacts to a metric and so
keeps its own state.

Constructing a scheduler applies epoch 0 at once (a warm-up starts low).

Resuming a run of another length. A scheduler's ``plan`` names the hyper-parameters that
shape its schedule (``T_max`` for the cosine, ``milestones`` for MultiStepLR, ...), and
``horizon`` is the number of epochs it was planned for (None when the schedule has no
end). ``load_progress(state_dict)`` restores the position in the schedule (epoch count,
base rates) but keeps the plan this scheduler was built with, so a run resumed with
more epochs follows a schedule re-planned for its new length instead of the old one
(a cosine planned for 30 epochs gives lr = 0 at epoch 31). A scheduler whose ``plan`` is
None cannot be re-planned.
"""
import bisect
import copy
import math

from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses define ``get_lr()``, the rates at ``self.last_epoch``."""

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{type(self).__name__}: param_groups[{i}] has no "
                               f"'initial_lr', needed to resume at last_epoch={last_epoch}; "
                               f"load the optimizer's state dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self):
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def step(self):
        """Advance one epoch and set each group's ``lr`` to the schedule's value."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The rates set by the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    # the hyper-parameters that shape the schedule (None: unknown, cannot be re-planned)
    plan = None

    @property
    def horizon(self):
        """Epochs the schedule was planned for, or None if it has no end."""
        return None

    def state_dict(self):
        """Everything but the optimizer (numbers and lists: JSON-friendly)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore a state saved by ``state_dict`` of a scheduler of this same kind."""
        _check_state_keys(self, state_dict)
        self.__dict__.update(state_dict)

    def plan_state(self):
        """{name: value} of the hyper-parameters in ``plan`` (copies)."""
        if self.plan is None:
            raise TypeError(f"{type(self).__name__} does not declare its plan (the "
                            f"hyper-parameters that shape it), so it cannot be re-planned")
        return {k: copy.deepcopy(getattr(self, k)) for k in self.plan}

    def _set_plan(self, plan):
        for k, v in plan.items():
            setattr(self, k, v)

    def load_progress(self, state_dict):
        """Load ``state_dict`` but keep this scheduler's own plan: resume at the saved
        epoch on the schedule this scheduler was built for. Every group's lr is set to
        the re-planned rate for the next epoch. Returns ``{name: (saved, now)}`` for the
        plan entries that differ (empty: the same schedule)."""
        mine = self.plan_state()            # raises for a scheduler without a plan
        before = self.state_dict()
        self.load_state_dict(state_dict)
        saved = self.plan_state()
        self._set_plan(mine)
        changed = _plan_changes(saved, mine)
        if changed:
            try:
                lrs = self.get_lr()
            except Exception:
                self.load_state_dict(before)        # leave the scheduler as it was
                raise
            for group, lr in zip(self.optimizer.param_groups, lrs):
                group["lr"] = lr
            self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
        return changed

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


def _check_state_keys(scheduler, state_dict):
    """Refuse a state dict of another kind of scheduler (its keys differ from ours)."""
    name = type(scheduler).__name__
    if not isinstance(state_dict, dict):
        raise TypeError(f"{name}.load_state_dict: expected a dict (from state_dict()), got "
                        f"{type(state_dict).__name__}")
    ours, theirs = set(scheduler.state_dict()), set(state_dict)
    if ours != theirs:
        missing, extra = sorted(ours - theirs), sorted(theirs - ours)
        raise ValueError(f"{name}.load_state_dict: the state dict is not one of a {name} "
                         f"(missing {missing}, unexpected {extra}); was it saved from another "
                         f"kind of scheduler?")


def _plan_changes(saved, mine, prefix=""):
    """{name: (saved, now)} for the plan entries that differ, sub-schedulers flattened."""
    changed = {}
    for k in mine:
        if k == "schedulers":
            for i, (a, b) in enumerate(zip(saved[k], mine[k])):
                changed.update(_plan_changes(a, b, f"{prefix}schedulers[{i}]."))
        elif saved.get(k) != mine[k]:
            changed[prefix + k] = (saved.get(k), mine[k])
    return changed


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size): multiply by gamma every
    ``step_size`` epochs (torchvision's ImageNet recipe: lr 0.1, /10 every 30 epochs)."""

    plan = ("step_size", "gamma")

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= epoch) (ResNet on CIFAR:
    lr 0.1, /10 at 32k and 48k iterations)."""

    plan = ("milestones", "gamma")

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = sorted(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        passed = bisect.bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2
    (SGDR, Loshchilov & Hutter, without restarts): from base_lr down to eta_min at
    epoch T_max (beyond it the cosine climbs back, as in PyTorch)."""

    plan = ("T_max", "eta_min")

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    @property
    def horizon(self):
        return self.T_max

    def get_lr(self):
        cos = math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base - self.eta_min) * (1.0 + cos) / 2.0
                for base in self.base_lrs]


class LinearLR(LRScheduler):
    """lr = base_lr * f, with f going linearly from ``start_factor`` at epoch 0 to
    ``end_factor`` at epoch ``total_iters`` and staying there:

        f = start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters

    With ``end_factor=1`` this is the gradual linear warm-up of Goyal et al.
    ("Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour").
    """

    plan = ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        if not 0.0 < start_factor <= 1.0:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0.0 <= end_factor <= 1.0:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        if total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be >= 1, got {total_iters}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        done = min(self.last_epoch, self.total_iters) / self.total_iters
        factor = self.start_factor + (self.end_factor - self.start_factor) * done
        return [base * factor for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` (counting
    its epochs from 0 again), and so on; e.g. a 5-epoch warm-up, then cosine::

        warm = LinearLR(opt, start_factor=0.1, total_iters=5)
        cos = CosineAnnealingLR(opt, T_max=95)
        sched = SequentialLR(opt, [warm, cos], milestones=[5])
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if not schedulers:
            raise ValueError("SequentialLR: expected at least one scheduler, got none")
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler):
                raise TypeError(f"SequentialLR: schedulers[{i}] is a {type(s).__name__}; "
                                f"expected an epoch-driven scheduler (not ReduceLROnPlateau)")
            if s.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{i}] ({type(s).__name__}) "
                                 f"drives a different optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need "
                             f"{len(schedulers) - 1} milestones, got {len(milestones)}")
        self.schedulers = list(schedulers)
        self.milestones = list(milestones)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        # the phase that holds this epoch, at its own count from the phase's start
        phase = bisect.bisect_right(self.milestones, self.last_epoch)
        start = self.milestones[phase - 1] if phase > 0 else 0
        scheduler = self.schedulers[phase]
        scheduler.last_epoch = self.last_epoch - start
        return scheduler.get_lr()

    @property
    def plan(self):
        """The milestones and each phase's own plan (None if a phase has none)."""
        if any(s.plan is None for s in self.schedulers):
            return None
        return ("milestones", "schedulers")

    @property
    def horizon(self):
        last = self.schedulers[-1].horizon
        return None if last is None else (self.milestones[-1] if self.milestones else 0) + last

    def plan_state(self):
        if self.plan is None:
            return super().plan_state()             # raises: a phase cannot be re-planned
        return {"milestones": list(self.milestones),
                "schedulers": [s.plan_state() for s in self.schedulers]}

    def _set_plan(self, plan):
        self.milestones = list(plan["milestones"])
        for s, p in zip(self.schedulers, plan["schedulers"]):
            s._set_plan(p)

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("optimizer", "schedulers")}
        state["schedulers"] = [s.state_dict() for s in self.schedulers]
        return state

    def load_state_dict(self, state_dict):
        _check_state_keys(self, state_dict)
        state = dict(state_dict)
        saved = state.pop("schedulers")
        if len(saved) != len(self.schedulers):
            raise ValueError(f"SequentialLR.load_state_dict: the state dict has {len(saved)} "
                             f"phases, this scheduler has {len(self.schedulers)}")
        for s, sd in zip(self.schedulers, saved):
            _check_state_keys(s, sd)
        for s, sd in zip(self.schedulers, saved):
            s.load_state_dict(sd)
        self.__dict__.update(state)


class ReduceLROnPlateau:
    """Multiply the rate by ``factor`` when a metric has stopped improving.

    This is the VGG paper's schedule (Simonyan & Zisserman, 2015): start at 1e-2 and
    divide the rate by 10 whenever the validation accuracy stops improving (three
    times in all), i.e. ``ReduceLROnPlateau(opt, mode="max", factor=0.1)`` stepped
    with the validation accuracy. AlexNet did the same by hand, dividing by 10 when
    the validation error stopped improving.

    Each ``step(metric)``: the metric improves on ``best`` when it beats
    ``best * (1 - threshold)`` (mode "min", threshold_mode "rel"),
    ``best * (1 + threshold)`` ("max", "rel"), or ``best -/+ threshold`` ("abs").
    After more than ``patience`` epochs without improvement every group's lr
    becomes ``max(lr * factor, min_lr)`` (changes smaller than ``eps`` are skipped),
    and the next ``cooldown`` epochs are not counted. The same rules as PyTorch.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau: expected an Optimizer, got "
                            f"{type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                             f"got {threshold_mode!r}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"ReduceLROnPlateau: expected {n} min_lrs (one per "
                                 f"parameter group), got {len(min_lr)}")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * n
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def is_better(self, metric):
        if self.mode == "min":
            bar = (self.best * (1.0 - self.threshold) if self.threshold_mode == "rel"
                   else self.best - self.threshold)
            return metric < bar
        bar = (self.best * (1.0 + self.threshold) if self.threshold_mode == "rel"
               else self.best + self.threshold)
        return metric > bar

    def step(self, metric):
        """Record this epoch's ``metric`` (a number or a one-element Tensor)."""
        metric = float(metric.item() if hasattr(metric, "item") else metric)
        self.last_epoch += 1
        if self.is_better(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:          # just reduced: let the new rate settle
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        return list(self._last_lr)

    # Nothing here depends on the run's length: resuming restores the whole state.
    plan = ()
    horizon = None

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        _check_state_keys(self, state_dict)
        self.__dict__.update(state_dict)

    def plan_state(self):
        return {}

    def load_progress(self, state_dict):
        """As ``load_state_dict``: a plateau schedule has no length to re-plan."""
        self.load_state_dict(state_dict)
        return {}

    def __repr__(self):
        return (f"ReduceLROnPlateau(mode={self.mode!r}, factor={self.factor}, "
                f"patience={self.patience}, best={self.best}, lr={self._last_lr})")
