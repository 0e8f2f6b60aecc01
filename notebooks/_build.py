"""Write the per-paper notebooks (without outputs): ``.venv/bin/python notebooks/_build.py``.

Edit the cells here, not in the ``.ipynb`` files, then re-run this script. Cell ids are fixed so that
regenerating gives byte-identical files when nothing changed. ``tests/test_notebooks.py`` executes every
notebook with nbclient.

Each notebook: the paper's idea, a tiny synthetic dataset (2 subjects), the paper's input maps, the paper's
model (parameters and output shapes), the paper's transcribed tables, and an ipywidgets panel from
:mod:`ferbench._ipywidgets`. Everything runs on the CPU in well under a minute per notebook.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

HONESTY = (
    "> **Synthetic sanity check.** Every number this notebook computes comes from *synthetic* scans (Surrey Face "
    "Model or a procedural face, procedural textures). It says the pipeline runs; it says nothing about accuracy on "
    "BU-3DFE, Bosphorus or any real data. Numbers from the paper are transcribed as printed and labelled with their "
    "table. Models start from random initialisation (no pretrained weights are downloaded)."
)


def setup(slug: str) -> str:
    return f'''%matplotlib inline
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import ferbench
from ferbench import papers

np.random.seed(0)
torch.manual_seed(0)
# One torch thread: the models here are tiny, and on a machine whose cores are busy with other jobs a
# multi-threaded torch spin-waits and runs many times slower (measured: 1 s -> 5 min for 04's training run).
torch.set_num_threads(1)
print("python:", sys.executable)
print("sys.prefix:", sys.prefix)
print("ferbench", ferbench.__version__, "| torch", torch.__version__, "| threads", torch.get_num_threads())

WORK = Path("ferbench_output") / "notebooks" / "{slug}"   # relative to where the notebook runs
WORK.mkdir(parents=True, exist_ok=True)'''


DATA_MD = ("## A tiny synthetic dataset\n\n"
           "Two synthetic subjects in the BU-3DFE layout (25 scans each: six expressions at four intensities plus "
           "neutral), generated in a few seconds and reused when the notebook is run again.")

DATA = '''from ferbench.io import index_dataset
from ferbench.synth import generate_dataset

DATA = WORK / "data"
if not (DATA / "manifest.csv").is_file():
    generate_dataset(DATA, n_subjects=2, seed=0, layouts=("bu3dfe",), progress=False, workers=1, overwrite=True)
index = index_dataset(DATA)
print(index.summary())

# the sample scan: a level-4 happiness scan (the most visible expression)
record = next(r for r in index if r.expression == "happiness" and r.intensity == 4)
scan = record.load()
print(f"sample scan: {Path(record.path).name} ({record.subject}, {record.expression}, level {record.intensity}); "
      f"synthetic = {scan.meta.synthetic}")'''


def grid_cell(size: int) -> str:
    return f'''from ferbench.preprocess import preprocess_scan

grid = preprocess_scan(scan, size={size})   # pose normalisation, crop around the nose tip, resampling to a grid
print(f"FaceGrid {{grid.shape}}, {{grid.pixel_size_mm:.2f}} mm/pixel, {{int(grid.mask.sum())}} face pixels, "
      f"synthetic = {{grid.synthetic}}")'''


def model_cell(name: str, size: int | None = None, forward_size: int | None = None, note: str = "") -> str:
    size_arg = "" if size is None else f", input_size={size}"
    lines = [f'from ferbench.models import create_model, model_info',
             '',
             f'print(model_info("{name}"))',
             f'model = create_model("{name}"{size_arg}).eval()',
             'print(model.describe())',
             'print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")']
    if forward_size is not None:
        lines += [f'fmodel = create_model("{name}", input_size={forward_size}).eval()   # {note}',
                  'print("forward pass with", fmodel.describe())']
    else:
        lines += ['fmodel = model']
    lines += ['x = torch.zeros(2, fmodel.in_channels, fmodel.input_size, fmodel.input_size)  # (B, C, H, W), '
              'channels stacked in model.inputs order',
              'with torch.no_grad():',
              '    out = fmodel.forward_train(x)',
              'print("input", tuple(x.shape), "=", " + ".join(f"{n}:{c}" for n, c in fmodel.inputs))',
              'for k, v in out.items():',
              '    if hasattr(v, "shape"):',
              '        print(f"  {k:<12s} {tuple(v.shape)}")']
    return "\n".join(lines)


def tables_cell(paper: str, ids: list[str]) -> str:
    return "\n".join([f'for tid in {ids!r}:',
                      f'    print(papers.table("{paper}", tid))',
                      '    print()'])


def training_cells(model: str, protocol: str, size: int | None, run: bool, minutes: str,
                   options: str = "None") -> list:
    flag = "True" if run else "False"
    why = (f"It takes {minutes} on two CPU cores, so it runs by default." if run else
           f"It takes {minutes} on two busy CPU cores (the maps of every scan are computed first), so it is off "
           "by default: set `RUN_TRAINING = True` to run it.")
    md = ("## A very short training run (optional)\n\n"
          f"`ferbench.eval.commands.train` trains `{model}` under the subject-independent protocol `{protocol}` and "
          "writes a results folder (results.json, predictions, checkpoints). Here: 1 epoch, 2 folds, 2 subjects, so "
          "each fold trains on one subject and tests on the other. The accuracy is a **synthetic sanity check** near "
          f"chance, not a reproduction. {why}")
    size_arg = "None" if size is None else str(size)
    code = f'''RUN_TRAINING = {flag}
RESULTS = WORK / "results"
if RUN_TRAINING:
    from ferbench.eval.commands import train

    t0 = time.perf_counter()
    run_dir = train("{model}", "{protocol}", DATA, RESULTS, epochs=1, folds=2, seed=0, size={size_arg},
                    max_subjects=2, progress=False, device="cpu", workers=1, model_options={options})
    print(f"results folder: {{run_dir}} ({{time.perf_counter() - t0:.0f}} s)")
else:
    print("training skipped (RUN_TRAINING = False)")'''
    panel_md = ("The results panel shows the run's confusion matrix and per-expression accuracy beside the "
                "paper's (pick which table to compare with; each panel names its source).")
    panel = '''from ferbench._ipywidgets import ResultsPanel

if RUN_TRAINING:
    results_panel = ResultsPanel(RESULTS)
    print(results_panel.summary.value)
    display(results_panel.widget)
else:
    print("no results to show: set RUN_TRAINING = True above, or use ResultsPanel(<folder of `ferbench train`>)")'''
    return [new_markdown_cell(md), new_code_cell(code), new_markdown_cell(panel_md), new_code_cell(panel)]


def notebook(title_md: str, slug: str, body: list) -> nbformat.NotebookNode:
    cells = [new_markdown_cell(title_md + "\n\n" + HONESTY),
             new_code_cell(setup(slug)),
             new_markdown_cell(DATA_MD),
             new_code_cell(DATA)] + body
    for i, c in enumerate(cells):
        c["id"] = f"{slug.replace('_', '-')}-{i:02d}"
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


# --------------------------------------------------------------------------------------------- 01 DF-CNN

def nb_dfcnn() -> nbformat.NotebookNode:
    title = """# 01 · DF-CNN: Deep Fusion CNN over six attribute maps (Li et al., IEEE TMM 2017)

Each textured 3D scan is normalised and resampled to a grid, from which six **facial attribute maps** are computed:
the geometry map, the three components of the surface normal (local plane fit), a shape-index (curvature) map and
the texture. The six maps go through **one shared** VGG-M-style convolutional trunk; the six feature volumes are
concatenated and fused (a 1×1 convolution across channels, then a 6×6 convolution across space) into a **32-d
deep feature**, followed by a softmax layer, or by a linear SVM trained on the 32-d features (*DF-CNN_svm*). The
paper also explains predictions with input-gradient saliency maps (Eq. 14–15).

Spec: `shared/specs/dfcnn.md`; paper: `shared/papers/dfcnn_li2017.txt`."""
    body = [
        new_markdown_cell("## The six attribute maps\n\nPreprocess the sample scan once, then compute the maps "
                          "(`ferbench.maps.compute_maps` behind `MapGridDisplay`). Titles say *synthetic*."),
        new_code_cell(grid_cell(112)),
        new_code_cell('''from ferbench.maps import DFCNN_MAPS
from ferbench.viz import MapGridDisplay

disp = MapGridDisplay.from_scan(grid, names=DFCNN_MAPS).plot()
plt.show()
for name, m in disp.maps.items():
    print(f"{name:<12s} {str(m.shape):<14s} {m.dtype}  range [{m.min():.2f}, {m.max():.2f}]")'''),
        new_markdown_cell("## The model\n\n`create_model(\"dfcnn\")` builds the shared-trunk network at the "
                          "paper's 224×224 input (random initialisation). The forward pass below runs on zeros "
                          "just to show the shapes: `fusion7` is the 6×6×32 channel fusion, `features` the 32-d "
                          "deep feature, `logits` the six expressions."),
        new_code_cell(model_cell("dfcnn")),
        new_markdown_cell("## The paper's numbers\n\nTable V (fine-tuned deep features, BU-3DFE Subset I) and "
                          "Table XI (shared vs unshared trunk), transcribed as printed, errata flagged."),
        new_code_cell(tables_cell("dfcnn", ["V", "XI"])),
        *training_cells("dfcnn", "bu3dfe_subset2_cv10", 72, False, "about 30 s"),
        new_markdown_cell("## Panel: the maps of any scan\n\nPick a scan (subject · expression · intensity) and a "
                          "map. The panel calls the same public functions as above (`maps_view` is its logic)."),
        new_code_cell('''from ferbench._ipywidgets import ScanMapsPanel

maps_panel = ScanMapsPanel(index, size=96, map_names=DFCNN_MAPS, map_name="normal_z")
print("panel shows:", list(maps_panel.display_.maps), "| synthetic:", maps_panel.display_.synthetic)
display(maps_panel.widget)'''),
    ]
    return notebook(title, "01_dfcnn", body)


# --------------------------------------------------------------------------------------------- 02 GEMax + FA

def nb_gemax() -> nbformat.NotebookNode:
    title = """# 02 · GEMax depth maps + Facial Attention (Jiao et al., 2020)

A depth map quantised uniformly to 256 grey levels wastes most levels on depths where few face pixels lie.
**GEMax** keeps a block of depth `d_dis` = 6 cm behind the nose tip, quantises it to N = 4096 fine levels, and then
merges them into K = 256 output levels so that the output histogram has **maximum entropy**, under a **distortion
bound τ**: no output level may merge more than τ input levels (τ = 16 = N/K is the uniform map, τ = N is
unconstrained). The exact optimum is a K-step dynamic programme over a DAG, O(K·N·τ). The network (VGG-16
streams) adds a **Facial Attention** module that finds discriminative facial parts for multi-scale learning.

Spec: `shared/specs/gemax_fa.md`; paper: `shared/papers/gemax_fa_2020.txt`."""
    body = [
        new_markdown_cell("## Depth maps: GEMax and its baselines\n\nThe range image (min–max), histogram "
                          "equalisation, the greedy τ-limited equaliser and GEMax at τ = 20, with the entropy (bits, "
                          "face pixels in the block) of each."),
        new_code_cell(grid_cell(112)),
        new_code_cell('''from ferbench.maps import GEMAX_MAPS
from ferbench.maps.gemax import entropy, gemax_map, greedy_map, histeq_map, range_map, uniform_map
from ferbench.viz import MapGridDisplay

disp = MapGridDisplay.from_scan(grid, names=("depth",) + GEMAX_MAPS).plot()
plt.show()

z, mask = grid.z, grid.mask
rows = []
m, valid = range_map(z, mask=mask)
rows.append(("range image (min-max)", entropy(m, mask=valid)))
rows.append(("uniform block (τ = N/K = 16)", uniform_map(z, mask=mask)[1].entropy))
rows.append(("histogram equalisation", histeq_map(z, mask=mask)[1].entropy))
rows.append(("greedy, τ = 20", greedy_map(z, mask=mask, tau=20)[1].entropy))
t0 = time.perf_counter()
gmap, gres = gemax_map(z, mask=mask, tau=20)
dt = time.perf_counter() - t0
rows.append(("GEMax (exact DP), τ = 20", gres.entropy))
print("entropy in bits, ferbench on a synthetic scan:")
for name, h in rows:
    print(f"  {name:<30s} {h:.3f}")
print(f"GEMax DP time: {dt * 1000:.0f} ms for a {z.shape[0]}x{z.shape[1]} map "
      f"(paper, Table 3: {papers.table('gemax_fa', '3').printed('time (s)', '20')} s at 224x224 on an i5-8250U)")'''),
        new_markdown_cell("## τ-sweep: entropy versus τ beside the paper's Table 3\n\nLarger τ relaxes the "
                          "constraint, so the maximum entropy can only grow. The paper's entropies are BU-3DFE "
                          "averages (real data); ours are one synthetic scan, so only the trend is comparable. "
                          "τ = N is left out here (it is the slow, unconstrained DP)."),
        new_code_cell('''from ferbench.viz import TauSweepDisplay

TAUS = (16, 20, 30, 40, 50, 60)
sweep = TauSweepDisplay.from_scan(grid, taus=TAUS).plot(fig=plt.figure(figsize=(15, 3.4), layout="constrained"))
plt.show()

paper_h = sweep.paper_entropies or {}
print(f"{'tau':>4}  {'ferbench (synthetic)':>20}  {'paper, GEMax-FA Table 3 (BU-3DFE)':>34}")
for t, h in zip(sweep.result.taus, sweep.result.entropies):
    print(f"{t:>4}  {h:>20.3f}  {paper_h.get(str(t), float('nan')):>34.3f}")
assert np.all(np.diff(sweep.result.entropies) >= -1e-9), "entropy must not decrease with tau"'''),
        new_markdown_cell("## The model\n\n`create_model(\"gemax_fa\")`: VGG-16 streams over texture and the "
                          "GEMax map with the Facial Attention module (`aux_logits`: the predictions of the "
                          "attended facial parts). The paper-size model has about 59 M parameters; the forward "
                          "pass below uses a 128×128 input to stay quick on a CPU."),
        new_code_cell(model_cell("gemax_fa", forward_size=128, note="smaller input (a multiple of 32), same architecture")),
        new_markdown_cell("## The paper's numbers\n\nTable 3 (time and entropy versus τ), Table 5 (accuracy "
                          "and entropy versus τ) and Table 1 (BU-3DFE comparison)."),
        new_code_cell(tables_cell("gemax_fa", ["3", "5", "1"])),
        *training_cells("gemax_fa", "bu3dfe_jiao2020", 64, False, "about 45 s",
                        options='{"width_mult": 0.25}'),
        new_markdown_cell("## Panel: the τ slider\n\nMoving the slider recomputes the GEMax map of the scan "
                          "(the DP takes a few tens of milliseconds) and shows its entropy next to the paper's "
                          "Table 3 entropies. `tau_view(grid, tau)` is the panel's logic; the cell below also moves "
                          "the slider from code."),
        new_code_cell('''from ferbench._ipywidgets import TauSlider, tau_view

tau_panel = TauSlider(grid, tau=20)
display(tau_panel.widget)
for t in (16, 30, 60):
    tau_panel.slider.value = t          # what dragging the slider does
    print(f"tau = {t}: H = {tau_panel.view.entropy:.3f} bits (ferbench, synthetic)")
print(tau_panel.label.value.split("<br>")[1])
m20, h20 = tau_view(grid, 20)[:2]       # the same computation without widgets
print(f"tau_view(grid, 20): map {m20.shape} {m20.dtype}, H = {h20:.3f} bits")'''),
    ]
    return notebook(title, "02_gemax_fa", body)


# --------------------------------------------------------------------------------------------- 03 attention transformer

def nb_attention() -> nbformat.NotebookNode:
    title = """# 03 · CNN + cross-modality spatial attention + transformer (Raimondo et al.)

Two modalities only, **RGB texture and depth**, each through its own **EfficientNet-B2** stream (9×9×352 feature
maps at the paper's 260×260 input). A **cross-modality spatial attention** (CMSA) block computes spatial attention
masks from both streams, averages them and re-weights the RGB features with the result; a 1×1 convolution turns the
9×9 grid into 81 tokens for a 4-layer **Vision-Transformer encoder**, followed by a two-layer MLP head. The paper
trains with cross-entropy plus center/island losses and reports BU-3DFE results with 10-fold cross-validation.

Spec: `shared/specs/attention_transformer.md`; paper: `shared/papers/cnn_attention_transformer_raimondo.txt`."""
    body = [
        new_markdown_cell("## The two inputs\n\nThe texture (RGB) and the depth map of the sample scan."),
        new_code_cell(grid_cell(112)),
        new_code_cell('''from ferbench.viz import MapGridDisplay

disp = MapGridDisplay.from_scan(grid, names=("texture", "depth")).plot()
plt.show()
for name, m in disp.maps.items():
    print(f"{name:<8s} {str(m.shape):<14s} range [{m.min():.2f}, {m.max():.2f}]")'''),
        new_markdown_cell("## The model\n\n`create_model(\"attention_transformer\")` at the paper's 260×260 "
                          "input: `x_out` is the attention-weighted 9×9×352 RGB feature map, `features` the "
                          "transformer's 768-d output. The CMSA attention maps can be read back with "
                          "`ferbench.explain.attention_maps`."),
        new_code_cell(model_cell("attention_transformer") + '''

from ferbench.explain import attention_maps

att = attention_maps(fmodel, x[:1], size=None)
for k, a in att.items():
    print(f"  attention map {k!r}: {np.asarray(a).shape}")'''),
        new_markdown_cell("## The paper's numbers\n\nTable IV (BU-3DFE, 6 classes, two highest intensities), "
                          "Table VII (module ablation) and the confusion matrix of Fig. 12a."),
        new_code_cell(tables_cell("attention_transformer", ["IV", "VII", "fig12a"])),
        *training_cells("attention_transformer", "bu3dfe_setting1_720", 64, False, "about 2 minutes"),
        new_markdown_cell("## Panel: the inputs of any scan\n\nPick a scan and `texture` or `depth`."),
        new_code_cell('''from ferbench._ipywidgets import ScanMapsPanel

maps_panel = ScanMapsPanel(index, size=96, map_names=("texture", "depth"), map_name="depth")
print("panel shows:", list(maps_panel.display_.maps), "| synthetic:", maps_panel.display_.synthetic)
display(maps_panel.widget)'''),
    ]
    return notebook(title, "03_attention_transformer", body)


# --------------------------------------------------------------------------------------------- 04 CM-CNN

def nb_cmcnn() -> nbformat.NotebookNode:
    title = """# 04 · CM-CNN: cross-modality attention fusion (Ni et al., 2022)

Three single-channel 148×148 inputs: the **gray** image, its **LBP** code image and the **depth** map. Each goes
through its own feature-extraction network (a shallow DeepID-like one for depth, a deeper one with skip connections
for gray and LBP). The **cross-modality fusion network** has six directed SAGAN-style attention modules (each
modality attending to each other one); the attended features are pooled (global max and average), concatenated and
classified. Training uses a **focal loss with a Gaussian "soft label"** over the class index.

Spec: `shared/specs/cmcnn.md`; paper: `shared/papers/cmcnn_ni2022.txt`."""
    body = [
        new_markdown_cell("## The three inputs"),
        new_code_cell(grid_cell(112)),
        new_code_cell('''from ferbench.maps import CMCNN_MAPS
from ferbench.viz import MapGridDisplay

disp = MapGridDisplay.from_scan(grid, names=CMCNN_MAPS).plot()
plt.show()
for name, m in disp.maps.items():
    print(f"{name:<6s} {str(m.shape):<12s} range [{m.min():.2f}, {m.max():.2f}]")'''),
        new_markdown_cell("## The model and its loss\n\n`create_model(\"cmcnn\")` at the paper's 148×148 input, "
                          "then the soft labels of the loss: with the paper's literal σ = 0.1 over class indices "
                          "0..5 they are numerically one-hot; `label_spacing = 0.2` gives a visible smoothing "
                          "(spec §3.3)."),
        new_code_cell(model_cell("cmcnn") + '''

from ferbench.models.losses import gaussian_soft_labels, soft_focal_loss

y = torch.tensor([2])
print("soft label, literal paper  :", np.round(gaussian_soft_labels(y, 6).numpy()[0], 4))
print("soft label, spacing 0.2    :", np.round(gaussian_soft_labels(y, 6, label_spacing=0.2).numpy()[0], 4))
print("soft focal loss on zero input, random init:", float(soft_focal_loss(out["logits"][:1], y)))'''),
        new_markdown_cell("## The paper's numbers\n\nTable II (modality ablation on BU-3DFE) and Table V "
                          "(BU-3DFE comparison). The confusion matrices of Fig. 6 are mostly not recoverable from "
                          "the text (stored as missing cells)."),
        new_code_cell(tables_cell("cmcnn", ["II", "V"])),
        *training_cells("cmcnn", "bu3dfe_p1_paper", 64, True, "a few seconds (12 scans)"),
        new_markdown_cell("## Panel: the inputs of any scan"),
        new_code_cell('''from ferbench._ipywidgets import ScanMapsPanel

maps_panel = ScanMapsPanel(index, size=96, map_names=CMCNN_MAPS, map_name="lbp")
print("panel shows:", list(maps_panel.display_.maps), "| synthetic:", maps_panel.display_.synthetic)
display(maps_panel.widget)'''),
    ]
    return notebook(title, "04_cmcnn", body)


# --------------------------------------------------------------------------------------------- 05 MFF-CNN

def nb_mffcnn() -> nbformat.NotebookNode:
    title = """# 05 · MFF-CNN: multi-feature fusion CNN (Zou et al., 2021)

A **2D-only** method (in ferbench it is the texture baseline): one 60×60 gray face crop feeds two branches. The
**image branch** (6 convolutions, 3 poolings) concatenates mid-level and high-level features; the **patch branch**
cuts the crop into 16 overlapping 24×24 patches (stride 12), runs one small CNN on every patch (32 maps each, 512
"feature vectors"), keeps the 384 vectors with the largest **L2 norm**, and classifies them. The two branches'
logits are **summed** (late fusion) and trained jointly with a three-term cross-entropy.

Spec: `shared/specs/mffcnn.md`; paper: `shared/papers/mffcnn_zou2021.txt`."""
    body = [
        new_markdown_cell("## The input and its 16 patches"),
        new_code_cell(grid_cell(60)),
        new_code_cell('''from matplotlib.patches import Rectangle

from ferbench.maps import compute_maps

gray = compute_maps(grid, names=["gray"])["gray"]
fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
axes[0].imshow(gray, cmap="gray", vmin=0, vmax=1)
axes[0].set_title("gray, 60x60 (synthetic)", fontsize=9)
axes[1].imshow(gray, cmap="gray", vmin=0, vmax=1)
for i, (r, c) in enumerate([(r, c) for r in range(0, 37, 12) for c in range(0, 37, 12)]):
    axes[1].add_patch(Rectangle((c - 0.5, r - 0.5), 24, 24, fill=False, lw=0.8, color=plt.cm.tab20(i % 20)))
axes[1].set_title("16 patches, 24x24, stride 12 (overlap 0.5)", fontsize=9)
for a in axes:
    a.axis("off")
plt.show()'''),
        new_markdown_cell("## The model\n\n`z_img` and `z_patch` are the two branches' logits (summed into "
                          "`logits`); `patch_norms` are the L2 norms of the 512 patch feature vectors and "
                          "`selection` the 384 kept."),
        new_code_cell(model_cell("mffcnn")),
        new_markdown_cell("## The paper's numbers\n\nTable 2 (CK+ comparison) and Table 6 (ablation, Oulu-CASIA; "
                          "its printed caption is a copy of Table 1's, flagged as an erratum)."),
        new_code_cell(tables_cell("mffcnn", ["2", "6"])),
        *training_cells("mffcnn", "mffcnn_2d_cv10", None, True, "about 10 s (2D inputs only)"),
        new_markdown_cell("## Panel: any paper's tables\n\nPick a paper and a table; the text is the "
                          "transcription, headed by its table and source."),
        new_code_cell('''from ferbench._ipywidgets import PaperTablePanel

table_panel = PaperTablePanel("mffcnn", "fig4")
display(table_panel.widget)'''),
    ]
    return notebook(title, "05_mffcnn", body)


NOTEBOOKS = {
    "01_dfcnn.ipynb": nb_dfcnn,
    "02_gemax_fa.ipynb": nb_gemax,
    "03_attention_transformer.ipynb": nb_attention,
    "04_cmcnn.ipynb": nb_cmcnn,
    "05_mffcnn.ipynb": nb_mffcnn,
}


def build(out_dir: Path = HERE) -> list[Path]:
    """Write every notebook into ``out_dir``; returns the paths."""
    paths = []
    for name, fn in NOTEBOOKS.items():
        nb = fn()
        nbformat.validate(nb)
        p = Path(out_dir) / name
        with open(p, "w", encoding="utf-8", newline="\n") as fh:
            nbformat.write(nb, fh)
        paths.append(p)
    return paths


if __name__ == "__main__":
    for p in build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print("wrote", p)
