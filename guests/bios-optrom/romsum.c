/* Host tool: sets the last byte of an option ROM so that all its bytes sum to 0 mod 256 (the BIOS checks this). */
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: romsum ROM\n"); return 2; }
    FILE *f = fopen(argv[1], "r+b");
    if (!f) { perror(argv[1]); return 1; }
    unsigned char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    if (n < 512 || n % 512 != 0 || buf[0] != 0x55 || buf[1] != 0xaa || buf[2] * 512u != n) {
        fprintf(stderr, "%s: not an option ROM of whole 512-byte blocks matching its size byte\n", argv[1]);
        return 1;
    }
    unsigned sum = 0;
    for (size_t i = 0; i + 1 < n; i++) sum += buf[i];
    buf[n - 1] = (unsigned char)(0x100 - (sum & 0xff));
    if (fseek(f, (long)n - 1, SEEK_SET) != 0 || fwrite(&buf[n - 1], 1, 1, f) != 1) { perror("write"); return 1; }
    return fclose(f) != 0;
}
