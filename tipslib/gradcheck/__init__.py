"""Gradient checking: numerical gradients by centered differences, compared with analytic ones.

``tipslib.gradcheck.numpy_impl`` and ``tipslib.gradcheck.torch_impl`` are the twins, each with

* ``numerical_gradient(f, *arrays, h=1e-6)``: the centered-difference estimate;
* ``relative_error(a, b)``: the element-wise measure of disagreement;
* ``gradient_check(f, arrays_or_params, analytic_grads)``: a per-parameter report
  (largest error, where, verdict 'pass'/'warn'/'fail', why), with dtype-aware
  thresholds and kink detection; the torch twin also runs ``torch.autograd.gradcheck``;
* ``check_model_gradients(model, loss_fn, x, y)`` and ``check_layer_gradients(layer, x)``;
* ``step_size_errors`` and ``optimal_step_size``: the trade-off in choosing ``h``.
"""
