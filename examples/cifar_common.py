"""The shared body of the per-family CIFAR examples (train_resnet_cifar.py, ...).

Each family script states its paper's recipe (model, epochs, learning rate, schedule) and
calls ``run``; ``train_vgg_cifar.py`` is the same story written out top to bottom.
"""
import argparse
import os
import sys
import time

import minitorch_cnn as mt
from minitorch_cnn import data, models, optim
from minitorch_cnn.data import transforms as T
from minitorch_cnn.train import RunFolderError, Trainer


def parse(description, models_, default_model, epochs, lr, batch_size=128, weight_decay=5e-4,
          momentum=0.9, nesterov=False):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", default=default_model, choices=models_)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--momentum", type=float, default=momentum)
    p.add_argument("--nesterov", action="store_true", default=nesterov)
    p.add_argument("--weight-decay", type=float, default=weight_decay)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dataset", choices=["cifar10", "shapes"], default="cifar10")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--subset", type=int, default=None)
    add_run_folder_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    return check_args(p, p.parse_args())


def add_run_folder_args(p, default_out=None):
    """--out, --resume [CHECKPOINT] and --overwrite: where the run goes, and what to do
    when that folder already holds one."""
    p.add_argument("--out", default=default_out,
                   help="output folder (default runs/<model>_<data actually used>)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="continue the run in --out from its checkpoint.npz (or from the "
                        "checkpoint file given)")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in an --out folder that already holds a run")


def check_args(p, args):
    """Refuse counts below 1 and a learning rate that is not positive, with argparse's own
    usage message instead of a traceback from deep inside the run."""
    for name in ("epochs", "batch_size", "subset"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.lr <= 0:
        p.error(f"--lr must be positive, got {args.lr}")
    if getattr(args, "resume", False) and getattr(args, "overwrite", False):
        p.error("--resume continues the run in --out and --overwrite starts it over: "
                "choose one")
    return args


def fit(trainer, train_loader, val_loader, args):
    """``trainer.fit`` for a script: a run folder that cannot be used as asked ends the
    script with the message (what to do) instead of a traceback."""
    try:
        return trainer.fit(train_loader, val_loader, epochs=args.epochs, resume=args.resume)
    except RunFolderError as e:
        sys.exit(f"error: {e}")


def report_outputs(trainer):
    """Say where the run's files are, naming only those that exist."""
    files = trainer.outputs()
    where = os.path.abspath(trainer.out_dir)
    print(f"outputs in {where}: {', '.join(files)}" if files else
          f"nothing written in {where}")


def cifar_loaders(args, normalize=True):
    """(train_loader, val_loader, dataset name): CIFAR-10 with crops and flips, or the
    built-in shapes with a loud banner when CIFAR-10 cannot be had."""
    norm = [T.ToTensor(), T.Normalize(data.CIFAR10_MEAN, data.CIFAR10_STD)]
    train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] + norm)
    test_tf = T.Compose(norm)
    name = args.dataset
    if name == "cifar10":
        try:
            train = data.CIFAR10(args.data_dir, train=True, transform=train_tf)
            val = data.CIFAR10(args.data_dir, train=False, transform=test_tf)
        except (OSError, RuntimeError) as e:
            print("!" * 78 + f"\n!! CIFAR-10 could not be had: {e}\n!! Falling back to the "
                  "built-in 'shapes' dataset.\n" + "!" * 78, file=sys.stderr)
            name = "shapes"
    if name == "shapes":
        train = data.ShapesDataset(n=10000, train=True, transform=train_tf)
        n_val = 2000 if not args.subset else min(2000, max(200, args.subset // 4))
        val = data.ShapesDataset(n=n_val, train=False, transform=test_tf)
    if args.subset:
        train = data.Subset(train, range(min(args.subset, len(train))))
    return (data.DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True,
                            seed=args.seed),
            data.DataLoader(val, batch_size=256), name)


def run(args, milestones=None, model_kwargs=None):
    """Build ``args.model`` for CIFAR-10, train it with SGD and a step (``milestones``,
    as fractions of the run, rate divided by 10 at each) or cosine schedule."""
    mt.manual_seed(args.seed)
    train_loader, val_loader, name = cifar_loaders(args)
    model = models.create(args.model, num_classes=10, **(model_kwargs or {})).to(args.device)
    print(f"{args.model}: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"'{name}' data, {args.device}")
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                    nesterov=args.nesterov, weight_decay=args.weight_decay)
    if milestones:
        sched = optim.lr_scheduler.MultiStepLR(
            opt, [max(1, int(f * args.epochs)) for f in milestones], gamma=0.1)
    else:
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    # named after the data it really trains on: a fallback run on the shapes never
    # lands in a CIFAR-10 folder, where a later --resume would continue it
    out = args.out or os.path.join("runs", f"{args.model}_{name}")
    trainer = Trainer(model, opt, sched, device=args.device, out_dir=out,
                      progress=not args.no_progress, overwrite=args.overwrite,
                      title=f"{args.model} on {name}, lr {args.lr}",
                      run_info={"model": args.model, "data": name})
    t0 = time.time()
    hist = fit(trainer, train_loader, val_loader, args)
    if hist and not trainer.interrupted:
        print(f"done in {time.time() - t0:.0f}s; best val accuracy "
              f"{max(r['val_acc'] for r in hist):.2%}")
    report_outputs(trainer)
    return hist
