# Legacy-device test guests (dev-pit, dev-rtc, dev-serial, dev-kbd): each drives one PC device through
# interrupts with its own GDT, IDT and remapped 8259 PICs from dev-common, and prints the same serial
# output under QEMU and mykvm.
DEV_GUESTS := pit rtc serial kbd
DEV_COMMON_OBJS := $(BUILD)/dev-common/devlib.o $(BUILD)/dev-common/isr.o

GUESTS += $(foreach g,$(DEV_GUESTS),$(BUILD)/dev-$(g).elf)

$(BUILD)/dev-common/%.o: dev-common/%.c dev-common/devlib.h lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -Idev-common -c $< -o $@

$(BUILD)/dev-common/%.o: dev-common/%.asm
	@mkdir -p $(dir $@)
	$(NASM) $(NASMFLAGS32) $< -o $@

$(BUILD)/dev-%/main.o: dev-%/main.c dev-common/devlib.h lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -Idev-common -c $< -o $@

$(BUILD)/dev-%.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/dev-%/main.o $(DEV_COMMON_OBJS) $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)
