/* select4: a 4-way select receiving from 4 senders (see select.h). */
#define K 4
#define NAME "select4"
#include "select.h"
