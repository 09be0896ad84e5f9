/* Host tool: writes the plat-ide scratch image, SECTORS sectors where byte i of sector s is (s*7 + i*13 + (s>>8)) & 0xff.
   The guest checks what it reads against the same formula. */
#include <stdio.h>
#include <stdlib.h>

#define SECTORS 4096

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: mkscratch OUT\n"); return 2; }
    FILE *f = fopen(argv[1], "wb");
    if (!f) { perror(argv[1]); return 1; }
    unsigned char sector[512];
    for (unsigned s = 0; s < SECTORS; s++) {
        for (unsigned i = 0; i < 512; i++) sector[i] = (unsigned char)(s * 7 + i * 13 + (s >> 8));
        if (fwrite(sector, 1, 512, f) != 512) { perror("write"); return 1; }
    }
    return fclose(f) != 0;
}
