"""The command line: ``python -m minitorch_cnn <command> [options]``.

    python -m minitorch_cnn models [PATTERN]    every model builder and its parameter count
    python -m minitorch_cnn summary NAME [--input 3x224x224]   layer table: shapes, MACs, memory
    python -m minitorch_cnn receptive-field NAME [--input ...]  r, jump and start per layer
    python -m minitorch_cnn compare NAME NAME ... [--input ...]  models side by side

Each command is a function ``cmd_<name>(args)`` registered with its arguments in
``build_parser``; add a command by adding both. A model name that no builder has ends the
command with one line naming the closest builders (exit code 2, as argparse's errors).
"""
import argparse
import sys

from .models import registry
from .nn.init import skip_init


def count_parameters(model):
    """Number of learnable weights (buffers such as BN's running statistics not counted)."""
    return sum(p.numel() for p in model.parameters())


def cmd_models(args):
    """One line per registered builder: name, family, parameters (default arguments)."""
    rows, failed = [], 0
    for family in registry.FAMILIES:
        family_name = family.__name__.rsplit(".", 1)[-1]
        for name, build in family.BUILDERS.items():
            if args.pattern and args.pattern not in name:
                continue
            try:
                # shapes only: skip_init draws no random numbers, so even the 138M-parameter
                # VGGs build in milliseconds
                model = skip_init(build, **({"num_classes": args.num_classes}
                                            if args.num_classes else {}))
                count = f"{count_parameters(model):,}"
            except Exception as e:      # one broken builder must not hide the others
                count, failed = f"error: {type(e).__name__}: {e}", failed + 1
            rows.append((name, family_name, count))
    width = max([len(r[0]) for r in rows] + [5])
    print(f"{'model':<{width}}  {'family':<12}  {'parameters':>13}")
    for name, family_name, count in rows:
        print(f"{name:<{width}}  {family_name:<12}  {count:>13}")
    print(f"{len(rows)} models")
    return 1 if failed else 0


def input_size(text):
    """'3x224x224' -> (3, 224, 224)."""
    try:
        size = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected CxHxW such as 3x224x224, got {text!r}")
    return size


def cmd_summary(args):
    """The layer table of one model (built with constant weights: the counts do not
    depend on the values)."""
    from . import analysis
    s = analysis.summary(args.name, args.input, args.batch_size, optimizer=args.optimizer)
    print(s.to_markdown() if args.markdown else s)
    if args.csv:
        s.to_csv(args.csv)
        print(f"wrote {args.csv}")
    return 0


def cmd_receptive_field(args):
    from . import analysis
    rf = analysis.receptive_field(args.name, args.input)
    print(rf.to_markdown() if args.markdown else rf)
    return 0


def cmd_compare(args):
    from . import analysis
    c = analysis.compare(args.names, args.input, optimizer=args.optimizer)
    print(c.to_markdown() if args.markdown else c)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m minitorch_cnn",
                                     description="minitorch_cnn command line tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("models", help="list every model builder with its parameter count")
    p.add_argument("pattern", nargs="?", default="",
                   help="only builders whose name contains this (e.g. vgg)")
    p.add_argument("--num-classes", type=int, default=None,
                   help="build with this many classes (default: each builder's own)")
    p.set_defaults(func=cmd_models)

    optimizers = ("sgd", "momentum", "rmsprop", "adam", "adamw")
    p = sub.add_parser("summary", help="layer table: output shapes, parameters, MACs, memory")
    p.add_argument("name", help="a model builder, e.g. vgg16")
    p.add_argument("--input", type=input_size, default=(3, 224, 224), metavar="CxHxW",
                   help="one input's shape (default 3x224x224)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--optimizer", choices=optimizers, default="momentum",
                   help="optimizer state counted in the training-memory estimate")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("receptive-field", help="receptive field size, jump and start per layer")
    p.add_argument("name", help="a model builder, e.g. resnet50")
    p.add_argument("--input", type=input_size, default=(3, 224, 224), metavar="CxHxW")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.set_defaults(func=cmd_receptive_field)

    p = sub.add_parser("compare", help="several models side by side: parameters, MACs, "
                                       "memory, published top-1")
    p.add_argument("names", nargs="+", metavar="NAME", help="model builders")
    p.add_argument("--input", type=input_size, default=(3, 224, 224), metavar="CxHxW")
    p.add_argument("--optimizer", choices=optimizers, default="momentum")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.set_defaults(func=cmd_compare)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        for name in [getattr(args, "name", None)] + list(getattr(args, "names", None) or []):
            if name is not None:
                registry.check_name(name)      # before any work: one line, no traceback
        return args.func(args)
    except registry.UnknownModelError as e:
        print(f"{parser.prog} {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
