"""Optimizers and learning-rate schedulers in PyTorch's words
(``from minitorch_cnn import optim``; ``optim.SGD``, ``optim.lr_scheduler.StepLR``)."""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from .adadelta import Adadelta
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
           "lr_scheduler"]
