/* Test helper (tests/tpm/attest.sh): turn keyward's quoted PCR values (the
 * sha256 values of the selected PCRs, 32 bytes each, in index order) into
 * the "serialized" PCR file tpm2_quote -o writes and tpm2_checkquote -f
 * reads: a TPML_PCR_SELECTION, a UINT32 count, then count TPML_DIGEST of at
 * most 8 digests each, all as tpm2-tools lays them out in memory.
 * (tpm2_checkquote 5.4 fails on the plain values file with -l.)
 *
 *   pcrs_serialize MASK_HEX VALUES_FILE OUT_FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tpm2_types.h>

int
main(int argc, char **argv)
{
	static TPML_DIGEST d[3];
	TPML_PCR_SELECTION sel;
	unsigned long mask;
	uint8_t v[32];
	UINT32 count = 0;
	FILE *in, *out;
	int i, rc = 1;

	if (argc != 4)
		return 2;
	mask = strtoul(argv[1], NULL, 16);
	if ((in = fopen(argv[2], "rb")) == NULL)
		return 1;
	memset(&sel, 0, sizeof(sel));
	sel.count = 1;
	sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel.pcrSelections[0].sizeofSelect = 3;
	memset(d, 0, sizeof(d));
	for (i = 0; i < 24; i++) {
		if (!(mask & (1ul << i)))
			continue;
		sel.pcrSelections[0].pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
		if (fread(v, 1, 32, in) != 32)
			goto out;
		if (d[count].count == 8)
			count++;
		d[count].digests[d[count].count].size = 32;
		memcpy(d[count].digests[d[count].count].buffer, v, 32);
		d[count].count++;
	}
	count++;
	if ((out = fopen(argv[3], "wb")) == NULL)
		goto out;
	if (fwrite(&sel, sizeof(sel), 1, out) == 1 &&
	    fwrite(&count, sizeof(count), 1, out) == 1 &&
	    fwrite(d, sizeof(d[0]), count, out) == count)
		rc = 0;
	if (fclose(out) != 0)
		rc = 1;
out:
	fclose(in);
	return rc;
}
