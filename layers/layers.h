// Everything in layers/, for users and for models/: the Module API and every layer.
#pragma once

#include "layers/batchnorm.h"
#include "layers/containers.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/identity.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/lrn.h"
#include "layers/module.h"
#include "layers/parameter.h"
#include "layers/pooling.h"
#include "layers/relu.h"
#include "layers/zero_pad_shortcut.h"
