# mini-stos as the course boots stos: mykvm -f guests/ministos/ministos.boot  (after make -C guests)
# Paths are relative to this file.
kernel=../build/ministos.elf
initramfs=../build/ministos/initramfs.cpio
module=../build/ministos/hello.ko
module=../build/ministos/greet.ko
commandline=init.mode=tests greet.who=world
