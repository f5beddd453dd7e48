// Everything eqnn offers to a program or a plugin outside this tree, in one include (installed as
// include/eqnn/eqnn.hpp). Code in this tree includes the headers it uses instead, so that a change to
// one floor rebuilds only what depends on it.
//
//   #include <eqnn/eqnn.hpp>
//   eqnn::Registry registry;
//   registry.load_default_plugins();
//   eqnn::ModelPtr model = eqnn::load_model(registry, "examples/models/d4_mlp.yaml");
#pragma once

// util: errors, suggestions, hashing, caches, limits, atomic files, YAML keyword arguments
#include "eqnn/util/atomic_file.hpp"
#include "eqnn/util/device_cache.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/hash.hpp"
#include "eqnn/util/limits.hpp"
#include "eqnn/util/strings.hpp"
#include "eqnn/util/suggest.hpp"
#include "eqnn/util/union_find.hpp"
#include "eqnn/util/weak_cache.hpp"
#include "eqnn/util/yaml_args.hpp"

// group_theory: groups, irreps, decompositions, representations, rep strings, Hom spaces, init schemes,
// statistics and equivariant least squares
#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/group_theory/cyclic_fourier.hpp"
#include "eqnn/group_theory/decomposition.hpp"
#include "eqnn/group_theory/equivariant_linalg.hpp"
#include "eqnn/group_theory/generator_matrices.hpp"
#include "eqnn/group_theory/group.hpp"
#include "eqnn/group_theory/group_helpers.hpp"
#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/init_scheme.hpp"
#include "eqnn/group_theory/irrep_copies.hpp"
#include "eqnn/group_theory/irreps.hpp"
#include "eqnn/group_theory/isotypic.hpp"
#include "eqnn/group_theory/isotypic_execution.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "eqnn/group_theory/statistics.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"

// nn: constraint and layer interfaces, constrained parameters, layer options
#include "eqnn/nn/basis_fingerprint.hpp"
#include "eqnn/nn/constrained_parameter.hpp"
#include "eqnn/nn/constraint.hpp"
#include "eqnn/nn/execution_report.hpp"
#include "eqnn/nn/extra_inputs.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "eqnn/nn/sequence_length.hpp"

// registry: the plugin ABI, the registry, group specs, versions and the build fingerprint
#include "eqnn/registry/group_spec.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/registry/version.hpp"

// model: YAML models, checkpoints, tensor files, export, the equivariance check, tasks, training
#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/equivariance_check.hpp"
#include "eqnn/model/export_weights.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tasks.hpp"
#include "eqnn/model/tensor_data.hpp"
#include "eqnn/model/tensor_file.hpp"
#include "eqnn/model/training.hpp"
