/* What training an AdapterFusion needs beyond its forward/backward pair, over every fusion of a
 * model's setup: the temperature schedule (the library lowers T after each forward of a fusion
 * with "temperature": true) and the value regulariser 0.01 * ||I - W_v||^2 of
 * get_fusion_regularization_loss. */
#ifndef ADAPT_ADAPTERS_FUSION_TRAIN_H
#define ADAPT_ADAPTERS_FUSION_TRAIN_H
#include "adapters/setup.h"

/* Call after each model forward: every fusion's T moves one step (no-op without temperature). */
void setup_fusion_step_temperature(adapt_model *m);

/* Sum of the regulariser over every layer and location of every fusion whose config has
 * "regularization" and a value matrix; adds grad_scale * its gradient to trainable value matrices. */
double setup_fusion_regularization(adapt_model *m, float grad_scale);

/* "a,b,c" (spaces allowed) into n names held in buf; error when empty, too many or repeated. */
adapt_status fusion_names_parse(const char *list, char buf[FUSION_MAX_ADAPTERS][ADAPTER_NAME_MAX], const char **names, int *n);

#endif
