"""endorm.tabular: an exact token-MDP simulator that checks the paper's theory numerically.

float64 numpy/scipy throughout. Layered arrays (one [n_h, V] array per depth) carry
rewards, logits, Q and policies; see ``mdp`` for the layout. Formulas: MATH.md (paper: arXiv 2506.23235).
"""
from .brute import Enumeration, enumerate_mdp, fit_exponent
from .checks import (CheckReport, CheckResult, check_dynamic_programs, check_iteration, check_power_sharpening,
                     check_proposition1, check_round_trip, check_shaping, check_telescoping, check_theorem1,
                     check_theorem2, random_instances, run_all, verify_plan)
from .imitation import (Demonstrations, behaviour_cloning, iq_learn_ascent, iq_learn_gradient, iq_learn_objective,
                        sample_demonstrations)
from .instances import CompoundingFamily, Instance, random_tree_instance
from .mdp import TokenMDP, all_responses, automaton_mdp, path_sum, prefix_tree, rollout_states
from .planning import (HardSolution, SoftSolution, evaluate, hard_optimal, kl_regularized_optimal, soft_optimal,
                       state_distribution)
from .rewards import (discounted_score, endogenous_reward, log_policy, outcome_reward, policy_logits,
                      sequence_log_prob, shaped_reward, soft_value)
from .theory import (DEFAULT_HORIZONS, Gaps, HorizonScaling, bc_gap_bound, horizon_scaling, loglog_slope,
                     preference_tv, rl_policy, theorem2_gaps)

__all__ = [name for name in dir() if not name.startswith("_")]
