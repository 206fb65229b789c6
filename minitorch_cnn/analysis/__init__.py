"""Seeing inside a network: summary tables (shapes, parameters, MACs, memory), receptive
fields (theoretical and effective), a per-layer profiler, plots and published figures.

    from minitorch_cnn import analysis
    print(analysis.summary(model, (3, 224, 224)))
    print(analysis.receptive_field(model, (3, 224, 224)))
    analysis.effective_receptive_field(model, (3, 64, 64)).plot("erf.png")
    print(analysis.profile(model, x))

    from minitorch_cnn.analysis import plots      # matplotlib is loaded only here
    plots.training_curves("metrics.csv", "curves.png")
"""
from .summary import summary, Summary, compare, Comparison, count_macs
from .receptive_field import (receptive_field, ReceptiveField, effective_receptive_field,
                              EffectiveRF)
from .profile import profile, Profile
from .published import IMAGENET
