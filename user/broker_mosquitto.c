// SPDX-License-Identifier: MIT
#include "broker.h"
static int mosq_detect(struct nh_elf *elf) { (void)elf; return 0; }
const struct nh_broker nh_broker_mosquitto = { .name = "mosquitto", .detect = mosq_detect };
