/* select2: a 2-way select receiving from 2 senders (see select.h). */
#define K 2
#define NAME "select2"
#include "select.h"
