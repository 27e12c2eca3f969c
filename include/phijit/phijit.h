// phijit: the public API (see API.md). One umbrella header; everything is in namespace phijit.
#pragma once

#include "frontend/gradient.h"
#include "frontend/jit.h"
#include "frontend/linear.h"
#include "frontend/math.h"
#include "frontend/minimize.h"
#include "frontend/picture.h"
#include "frontend/matrices.h"
#include "frontend/print.h"
#include "frontend/solve.h"
#include "frontend/stencils.h"
#include "frontend/tensor.h"
#include "ir/dtype.h"
#include "ir/error.h"
#include "ir/extrapolation.h"
#include "ir/shape.h"
