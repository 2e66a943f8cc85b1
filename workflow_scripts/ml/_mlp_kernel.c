/* One epoch of many independent n_in -> n_hidden -> 1 sigmoid networks on the CPU.
 *
 * The compiled counterpart of ensemble.py's torch training step, for the toy and LHC studies' small
 * networks (Cohen et al., Table 1).  Each member trains alone with its parameters, Adam moments and a
 * batch of activations in L1 cache; the events of a batch sit in the vector lanes, so the forward pass,
 * the sigmoid and the backward pass are plain element-wise loops that the compiler vectorises.  The
 * arithmetic is that of ensemble.batch_gradient and ensemble._training_step (tests/test_cpu_kernel.py
 * checks the two against each other); only the order of float additions differs.
 *
 * Loaded with ctypes by workflow_scripts/cpu_kernel.py. The caller owns every array; nothing here keeps a pointer.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

enum { LOSS_BCE = 0, LOSS_MAE = 1, LOSS_LLP = 2 };
enum { OPTIMIZER_ADAM = 0, OPTIMIZER_SGD = 1 };
enum { STATUS_OK = 0, STATUS_NO_MEMORY = 1, STATUS_BAD_ARGUMENT = 2 };

#define ADAM_BETA1 0.9f
#define ADAM_BETA2 0.999f
#define KERAS_EPSILON 1e-7f
#define MLP_KERNEL_ABI_VERSION 2
/* Batches are padded with zero-weight events to a multiple of this: one AVX-512 register, two AVX2 ones. */
#define LANES 16

/* exp(x) = 2^n e^r with n = round(x / ln 2) and |r| <= ln(2) / 2: the integer power goes into the exponent
 * bits, e^r is its degree-6 Taylor polynomial, and r = x - n ln 2 is taken in two parts (Cody and Waite) so
 * that it stays exact for large |x|.  Relative error below 3e-7 over the whole clamp range.  libm's expf is
 * a function call the compiler cannot vectorise, and half of the training time is spent in sigmoids. */
static inline float vector_exp(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f); /* log2(e) */
    const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187045e-6f; /* ln 2 = high + low part */
    float poly = 1.0f / 720.0f;
    poly = poly * r + 1.0f / 120.0f;
    poly = poly * r + 1.0f / 24.0f;
    poly = poly * r + 1.0f / 6.0f;
    poly = poly * r + 0.5f;
    poly = poly * r + 1.0f;
    poly = poly * r + 1.0f;
    union { float value; int32_t bits; } power_of_two;
    power_of_two.bits = ((int32_t)n + 127) << 23;
    return poly * power_of_two.value;
}

static inline float sigmoid(float x) { return 1.0f / (1.0f + vector_exp(-x)); }

/* torch.sign: 0 at 0. */
static inline float sign(float x) { return (float)((x > 0.0f) - (x < 0.0f)); }

/* One optimizer step of one member on events order[0 .. n); `padded` is the batch size rounded up to LANES. */
static inline __attribute__((always_inline)) void member_step(
    const int64_t padded, const int64_t n, const int64_t K, const int64_t H, const float *events,
    const float *member_targets, const float *event_weights, const int32_t *order, float step_size, int loss,
    int optimizer, float *restrict p, float *restrict m, float *restrict v,
    /* scratch, (K or H or 1, padded) each; restrict: no two arrays overlap, which lets every loop vectorise */
    float *restrict xb, float *restrict hidden_all, float *restrict output, float *restrict target,
    float *restrict weight, float *restrict grad_logit, float *restrict grad_hidden, float *restrict grad)
{
    const int64_t P = K * H + 2 * H + 1;
    const float *w1 = p, *b1 = p + K * H, *w2 = p + K * H + H;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t event = order[i];
        const float *row = events + event * (K + 1);
        for (int64_t k = 0; k < K; ++k) xb[k * padded + i] = row[k];
        target[i] = member_targets[(int64_t)row[K]];
        weight[i] = event_weights ? event_weights[event] : 1.0f;
    }
    for (int64_t i = n; i < padded; ++i) { /* padding: zero weight, so no gradient */
        for (int64_t k = 0; k < K; ++k) xb[k * padded + i] = 0.0f;
        target[i] = weight[i] = 0.0f;
    }
    for (int64_t i = 0; i < padded; ++i) output[i] = p[P - 1];
    for (int64_t j = 0; j < H; ++j) {
        float *hidden = hidden_all + j * padded;
        for (int64_t i = 0; i < padded; ++i) hidden[i] = b1[j];
        for (int64_t k = 0; k < K; ++k) {
            const float w1_kj = w1[k * H + j];
            const float *xk = xb + k * padded;
            for (int64_t i = 0; i < padded; ++i) hidden[i] += xk[i] * w1_kj;
        }
        for (int64_t i = 0; i < padded; ++i) {
            hidden[i] = sigmoid(hidden[i]);
            output[i] += hidden[i] * w2[j];
        }
    }
    for (int64_t i = 0; i < padded; ++i) output[i] = sigmoid(output[i]);
    float summed_difference = 0.0f; /* the proportion loss compares batch means, padding excluded */
    for (int64_t i = 0; i < n; ++i) summed_difference += output[i] - target[i];
    const float batch_sign = sign(summed_difference);
    float grad_b2 = 0.0f;
    for (int64_t i = 0; i < padded; ++i) {
        const float out = output[i], slope = out * (1.0f - out);
        const float d = loss == LOSS_BCE ? out - target[i]
                        : loss == LOSS_MAE ? sign(out - target[i]) * slope : batch_sign * slope;
        grad_logit[i] = d * weight[i] / (float)n;
        grad_b2 += grad_logit[i];
    }
    float *grad_w1 = grad, *grad_b1 = grad + K * H, *grad_w2 = grad + K * H + H;
    grad[P - 1] = grad_b2;
    for (int64_t j = 0; j < H; ++j) {
        const float *hidden = hidden_all + j * padded;
        float sum_w2 = 0.0f, sum_b1 = 0.0f;
        for (int64_t i = 0; i < padded; ++i) {
            sum_w2 += grad_logit[i] * hidden[i];
            grad_hidden[i] = grad_logit[i] * w2[j] * hidden[i] * (1.0f - hidden[i]);
            sum_b1 += grad_hidden[i];
        }
        grad_w2[j] = sum_w2;
        grad_b1[j] = sum_b1;
        for (int64_t k = 0; k < K; ++k) {
            const float *xk = xb + k * padded;
            float sum = 0.0f;
            for (int64_t i = 0; i < padded; ++i) sum += xk[i] * grad_hidden[i];
            grad_w1[k * H + j] = sum;
        }
    }
    if (optimizer == OPTIMIZER_ADAM) {
        for (int64_t q = 0; q < P; ++q) {
            const float g = grad[q];
            m[q] = ADAM_BETA1 * m[q] + (1.0f - ADAM_BETA1) * g;
            v[q] = ADAM_BETA2 * v[q] + (1.0f - ADAM_BETA2) * g * g;
            p[q] -= step_size * m[q] / (sqrtf(v[q]) + KERAS_EPSILON);
        }
    } else {
        for (int64_t q = 0; q < P; ++q) p[q] -= step_size * grad[q];
    }
}


/* Changes whenever mlp_train_epoch's signature or array layouts change: cpu_kernel.py refuses a stale build. */
int mlp_kernel_abi_version(void) { return MLP_KERNEL_ABI_VERSION; }

/* Trains every member for one epoch (ceil(n_events / batch_size) steps), in place.
 *
 * events (n_events, n_inputs + 1): each event's inputs, then its group g in [0, n_groups) as a float (one
 * row is one cache line for the toy model's 3 inputs; the rows are read in random order);
 * targets (n_members, n_groups): the target of an event of group g for member e;
 * event_weights (n_events) or NULL;
 * order (n_members, n_events): each member's shuffle of the events for this epoch;
 * step_sizes (n_steps): the learning rate of each step, with Adam's bias correction folded in;
 * params, adam_m, adam_v (n_members, n_params) in MLPEnsemble's layout (w1 as (n_inputs, n_hidden), b1, w2, b2).
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
/* One build runs on any x86-64 CPU and uses AVX-512 or AVX2 where the CPU has it (GCC 12 knows these arch names). */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
int mlp_train_epoch(int64_t n_members, int64_t n_events, int64_t n_inputs, int64_t n_hidden, int64_t batch_size,
                    const float *events, const float *targets, int64_t n_groups,
                    const float *event_weights, const int32_t *order, const float *step_sizes, float *params,
                    float *adam_m, float *adam_v, int loss, int optimizer)
{
    if (n_members < 0 || n_events < 1 || n_inputs < 1 || n_hidden < 1 || batch_size < 1 || n_groups < 1 ||
        loss < LOSS_BCE || loss > LOSS_LLP || optimizer < OPTIMIZER_ADAM || optimizer > OPTIMIZER_SGD)
        return STATUS_BAD_ARGUMENT;
    const int64_t K = n_inputs, H = n_hidden, P = K * H + 2 * H + 1;
    /* A batch never holds more than every event (a batch size of 10^6 on 200 events must not allocate 10^6). */
    const int64_t width = batch_size < n_events ? batch_size : n_events;
    const int64_t padded = (width + LANES - 1) / LANES * LANES;
    /* Scratch of one step, (K or H or 1, padded) each, then the gradient (P): one allocation per call. */
    float *block = malloc(sizeof(float) * (padded * (K + H + 5) + P));
    if (!block) return STATUS_NO_MEMORY;
    float *xb = block, *hidden = xb + K * padded, *output = hidden + H * padded, *target = output + padded;
    float *weight = target + padded, *grad_logit = weight + padded, *grad_hidden = grad_logit + padded;
    float *grad = grad_hidden + padded;
#define SCRATCH xb, hidden, output, target, weight, grad_logit, grad_hidden, grad
    for (int64_t member = 0; member < n_members; ++member) {
        float *p = params + member * P, *m = adam_m + member * P, *v = adam_v + member * P;
        const float *member_targets = targets + member * n_groups;
        const int32_t *member_order = order + member * n_events;
        int64_t step = 0;
        for (int64_t start = 0; start < n_events; start += batch_size, ++step) {
            const int64_t n = n_events - start < batch_size ? n_events - start : batch_size;
            const int32_t *batch = member_order + start;
            /* The events are random rows of arrays larger than L2: fetch the next step's while this one computes. */
            for (int64_t i = batch_size; i < batch_size + n && start + i < n_events; ++i) {
                __builtin_prefetch(events + batch[i] * (K + 1));
            }
            const float step_size = step_sizes[step];
            /* Constant batch widths for the usual batch sizes: member_step is inlined with fixed trip counts. */
            switch (padded) {
            case 32: member_step(32, n, K, H, events, member_targets, event_weights, batch, step_size, loss, optimizer, p, m, v, SCRATCH); break;
            case 64: member_step(64, n, K, H, events, member_targets, event_weights, batch, step_size, loss, optimizer, p, m, v, SCRATCH); break;
            default: member_step(padded, n, K, H, events, member_targets, event_weights, batch, step_size, loss, optimizer, p, m, v, SCRATCH);
            }
        }
    }
    free(block);
    return STATUS_OK;
}
