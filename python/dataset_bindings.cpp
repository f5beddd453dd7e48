// The data sets of eqnn.datasets: ring_task builds the C++ oscillator-ring task (eqnn::make_ring_task) and
// returns its train and test tensors.
#include <cstdint>
#include <memory>

#include <pybind11/pybind11.h>
#include <torch/csrc/utils/pybind.h>

#include "bindings.hpp"
#include "eqnn/model/tasks.hpp"

namespace eqnn::python {

void bind_datasets(py::module_& m) {
  m.def(
      "ring_task",
      [](int64_t n, uint64_t seed, int64_t train_size, int64_t test_size, int64_t window) {
        TORCH_CHECK(n >= 3 && train_size >= 1 && test_size >= 1 && window >= 1,
                    "eqnn.datasets.oscillator_ring: expected n >= 3 and positive sizes, got n=", n,
                    ", train_size=", train_size, ", test_size=", test_size, ", window=", window);
        std::unique_ptr<Task> task;
        {
          py::gil_scoped_release no_gil;
          task = make_ring_task(n, seed, train_size, test_size, window);
        }
        const TaskData& d = task->data();
        return py::make_tuple(d.train_x, d.train_y, d.test_x, d.test_y);
      },
      py::arg("n"), py::arg("seed"), py::arg("train_size"), py::arg("test_size"), py::arg("window"));
}

}  // namespace eqnn::python
