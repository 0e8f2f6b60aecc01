"""Write the notebooks (without outputs): ``.venv/bin/python notebooks/_build.py``.

Edit the cells here, not in the ``.ipynb`` files, then re-run this script. Cell ids are fixed so that
regenerating gives byte-identical files when nothing changed. ``tests/test_notebooks.py`` executes every
notebook with nbclient (``FERBENCH_NOTEBOOK_QUICK=1``) and checks that they equal this script's output.

``00_tour``: one textured scan to an explained prediction, for teaching. ``01``-``05``: one paper each, top to
bottom: the claim, a scan in 3D, its maps, the model, a training run on synthetic subjects that learns, the
results beside the paper's, the paper's explanations plus Grad-CAM per modality (on the face in 3D too), and the
paper's central ablation as a widget where it needs no retraining.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

HONESTY = (
    "> **Synthetic sanity check.** Every number this notebook computes comes from *synthetic* scans (the ICT Face "
    "Model shipped with ferbench, FACS-based expressions, procedural textures) and is labelled *synthetic*. It says the pipeline runs and learns; it "
    "says nothing about accuracy on BU-3DFE, Bosphorus or any real data. Numbers from the paper are transcribed "
    "as printed and labelled with their table. Models start from random initialisation (no pretrained weights "
    "are downloaded).\n>\n"
    "> **Time.** Top to bottom in a few minutes on a 2-core CPU (a GPU is used when present; measured times in "
    "`notebooks/README.md`). `FERBENCH_NOTEBOOK_QUICK=1` in the environment shrinks the training (fewer subjects "
    "and epochs) for CI: every cell still runs, but so little training may not beat chance."
)

SETUP = '''%matplotlib inline
import os
import sys
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

import ferbench
from ferbench import papers
from ferbench._device import default_device
from ferbench.views import title_label

T_START = time.perf_counter()
# warnings as one line each (as the ferbench command line prints them), without Python's source-line echo
warnings.formatwarning = lambda message, category, *args, **kwargs: f"{category.__name__}: {message}\\n"
# FERBENCH_NOTEBOOK_QUICK=1 (CI): fewer subjects and epochs; every cell still runs
QUICK = os.environ.get("FERBENCH_NOTEBOOK_QUICK", "").strip() not in ("", "0")
DEVICE = str(default_device(None))      # CUDA when present, else the CPU
np.random.seed(0)
torch.manual_seed(0)
# torch on the CPU uses every core (two threads train ~1.8x faster than one on an idle 2-core machine). On a
# machine whose cores are busy with other jobs, start Jupyter with OMP_NUM_THREADS=1: a multi-threaded torch
# on busy cores spin-waits and runs many times slower.
print("python:", sys.executable)
print("sys.prefix:", sys.prefix)
print("ferbench", ferbench.__version__, "| torch", torch.__version__, f"({torch.get_num_threads()} threads)",
      "| device", DEVICE,
      "| quick mode" if QUICK else "| full mode")

WORK = Path("ferbench_output") / "notebooks" / "SLUG"   # relative to where the notebook runs
WORK.mkdir(parents=True, exist_ok=True)'''

DATA = '''from ferbench.io import index_dataset
from ferbench.synth import generate_dataset

# more subjects on a GPU, where training them is cheap (generating them stays on the CPU: ~1-3 s each)
N_SUBJECTS = QUICK_SUBJECTS if QUICK else GPU_SUBJECTS if DEVICE.startswith("cuda") else FULL_SUBJECTS
DATA = Path("ferbench_output") / "notebooks" / f"data_{N_SUBJECTS}subjects"
if not (DATA / "manifest.csv").is_file():
    t0 = time.perf_counter()
    generate_dataset(DATA, n_subjects=N_SUBJECTS, seed=0, layouts=("bu3dfe",), progress=False,
                     workers=min(torch.get_num_threads(), 4),   # subjects in parallel processes; the same data either way
                     overwrite=True)
    print(f"generated {N_SUBJECTS} synthetic subjects in {time.perf_counter() - t0:.0f} s")
index = index_dataset(DATA)
print(index.summary())

# the sample scan: a level-4 happiness scan (the most visible expression)
record = next(r for r in index if r.expression == "happiness" and r.intensity == 4)
scan = record.load()
print(f"sample scan: {Path(record.path).name} ({record.subject}, {record.expression}, level {record.intensity}); "
      f"synthetic = {scan.meta.synthetic}")'''

SCAN3D = '''from ferbench.viz.surface import show_scan

print(f"{len(scan.vertices):,} vertices, {len(scan.faces):,} triangles; "
      + title_label(Path(record.path).name, scan.meta.synthetic))
show_scan(scan, size=(460, 460), title=title_label(Path(record.path).name, scan.meta.synthetic))'''

MAPS = '''from ferbench.maps import CMCNN_MAPS, DFCNN_MAPS, GEMAX_MAPS
from ferbench.views import scan_maps_view
from ferbench.viz import MapGridDisplay

maps_view = scan_maps_view(scan, names=NAMES, size=SIZE)
MapGridDisplay.from_view(maps_view).plot()
plt.show()
for name, layer in maps_view.maps.items():
    print(f"{name:<12s} {str(layer.data.shape):<14s} range [{np.nanmin(layer.data):.2f}, "
          f"{np.nanmax(layer.data):.2f}]")'''

TRAIN = '''from ferbench.eval import open_run
from ferbench.eval.commands import train

SETTINGS = FULL_SETTINGS
if QUICK:
    SETTINGS.update(QUICK_SETTINGS)
elif DEVICE.startswith("cuda"):       # a GPU: the longer training of `ferbench demo --paper PAPER`
    SETTINGS.update(GPU_SETTINGS)
print("settings:", SETTINGS)
t0 = time.perf_counter()
# a re-run with the same settings resumes the finished run (the checkpoint is reused)
run_dir = train("MODEL", "PROTOCOL", DATA, WORK / ("results_quick" if QUICK else "results"), folds=4, max_splits=1, seed=0,
                max_subjects=N_SUBJECTS, progress=False, device=DEVICE, workers=1, **SETTINGS)
run = open_run(run_dir)
print(f"trained in {time.perf_counter() - t0:.0f} s on {DEVICE}: {run.path.name}")
summary = run.summary()
print("ferbench, synthetic data:", summary.text)
fold = run.fold(0)
print(f"{fold.n_train} training scans; {fold.n_test} held-out scans of subjects {', '.join(fold.test_subjects)}; "
      f"chance {100 * summary.chance:.1f} %: "
      + ("clearly above chance (p < 0.01)" if summary.p_value < 0.01 else
         "not distinguishable from chance here: train longer or on more subjects"))'''

RESULTS = '''from ferbench._ipywidgets import ResultsPanel, summary_text

results_panel = ResultsPanel(run.path)
print("results panel shows run:", Path(results_panel.run.value).name)
print(summary_text(run))
display(results_panel.widget)'''

EXPLAIN = '''from ferbench._ipywidgets import ExplanationPanel

explanation_panel = ExplanationPanel(run, fold=0, scan_index=0, method="gradcam")
print(explanation_panel.text.value)
print("heat maps:", ", ".join(explanation_panel.view.heatmaps))
display(explanation_panel.widget)'''

CAM3D = '''from ferbench.views import explanation_on_surface

face = explanation_on_surface(run, fold=0)     # a level-4 surprise scan of fold 1 if it holds one
print(face.view.text())
print(f"{face.heat_name} painted on {np.isfinite(face.values).sum():,} of {len(face.values):,} vertices "
      "(the rest lie outside the model's crop)")
show_scan(face.scan, face.values, cmap="jet", clim=(0, 1), alpha=0.6, size=(460, 460), title=face.title)'''

TAU_SLIDER = '''from ferbench._ipywidgets import TauSlider

tau_panel = TauSlider(SOURCE, tau=20)
display(tau_panel.widget)
for t in (16, 30, 60):
    tau_panel.slider.value = t          # what dragging the slider does
    print(f"tau = {t}: H = {tau_panel.view.entropy:.3f} bits (ferbench, synthetic)")
tau_panel.slider.value = 20'''

EMBED = '''from ferbench._ipywidgets import EmbeddingPanel

embedding_panel = EmbeddingPanel(run, fold=0, method="tsne")
print(embedding_panel.view.title, "|", len(embedding_panel.view.points), "held-out scans")
print(embedding_panel.text.value)
display(embedding_panel.widget)'''

TIMING = '''print(f"notebook ran in {time.perf_counter() - T_START:.0f} s ({'quick' if QUICK else 'full'} mode, {DEVICE})")'''


def _sub(code: str, **values) -> str:
    for k, v in values.items():
        code = code.replace(k, v)
    return code


def md(text: str):
    return new_markdown_cell(text)


def code(text: str):
    return new_code_cell(text)


def data_cells(subjects: int, quick_subjects: int, gpu_subjects: int) -> list:
    text = (f"## A small synthetic dataset\n\n{subjects} synthetic subjects ({quick_subjects} in quick mode, "
            f"{gpu_subjects} on a GPU) in "
            "the BU-3DFE layout: 25 textured scans each (six expressions at four intensities, plus neutral) and a "
            "frontal 2D image per scan. They are generated once (a few seconds per subject) into "
            "`ferbench_output/notebooks/data_<n>subjects/`, shared by the notebooks and reused on the next run.")
    return [md(text), code(_sub(DATA, QUICK_SUBJECTS=str(quick_subjects), FULL_SUBJECTS=str(subjects),
                                GPU_SUBJECTS=str(gpu_subjects)))]


def scan3d_cells() -> list:
    text = ("## The scan in 3D\n\nThe textured mesh as the scanner gives it, before any preprocessing. Drag to "
            "rotate, scroll to zoom. It is a self-contained vtk.js widget (pyvista's offline `html` backend): no "
            "server and no network are needed; where it cannot be built a static picture is shown instead.")
    return [md(text), code(SCAN3D)]


def maps_cells(text: str, names: str, size: int) -> list:
    return [md(text), code(_sub(MAPS, NAMES=names, SIZE=str(size)))]


def tau_slider_code(source: str, after: str = "") -> str:
    """The GEMax τ slider on ``source`` (a scan or a preprocessed grid), then ``after`` (one more line)."""
    return _sub(TAU_SLIDER, SOURCE=source) + (f"\n{after}" if after else "")


def model_cell(name: str, size: int | None = None, forward_size: int | None = None, note: str = "") -> str:
    size_arg = "" if size is None else f", input_size={size}"
    lines = ['from ferbench.models import create_model, model_info',
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


def train_cells(model: str, protocol: str, full: dict, quick: dict, why: str, gpu: dict | None = None,
                paper: str = "") -> list:
    text = ("## Training on synthetic subjects\n\n"
            f"`ferbench.eval.commands.train` trains `{model}` under the subject-independent protocol `{protocol}` "
            "(4 subject folds; only the first split is trained, to keep the notebook short) and scores the "
            "held-out subjects: pooled accuracy, its Wilson 95 % interval and the one-sided binomial p-value "
            f"against chance (`Run.summary()`). {why} The run is a results folder (results.json, predictions, a "
            "checkpoint) that every panel below reads.")
    if protocol in ("bu3dfe_setting1_720", "bu3dfe_jiao2020"):
        text += (" Like the paper, the protocol selects 60 % of the subjects (BU-3DFE: 60 of 100; here 14 of 24, "
                 "of which the first split holds out 4) and their level-3 and level-4 scans.")
    return [md(text), code(_sub(TRAIN, FULL_SETTINGS=repr(full), QUICK_SETTINGS=repr(quick),
                                GPU_SETTINGS=repr(gpu or {}), PAPER=paper or model, MODEL=model,
                                PROTOCOL=protocol))]


def results_cells(paper_note: str) -> list:
    text = ("## Results beside the paper's\n\nThe results panel reads the run: ferbench's row-normalised "
            "confusion matrix (held-out subjects, *synthetic*) beside the paper's and their difference, then the "
            f"accuracy per expression, the paper's bars in grey. {paper_note} Other tables of the paper can be "
            "picked in the lists. Read the diagonal: how often each expression is recognised; off-diagonal cells "
            "say which expressions are confused with which.")
    return [md(text), code(RESULTS)]


def explanation_cells(extra: str = "") -> list:
    text = ("## What the model looks at: Grad-CAM per modality\n\n"
            "Pick a fold, one of its held-out scans and a method. The top row is each input as the model sees it "
            "(one column per modality); the bottom row the heat maps for the *predicted* class: Grad-CAM computed "
            "separately for each modality's channels (red: raised that class's score most), then the model's own "
            "attention maps where it has them. Heat maps use a percentile contrast, so weak maps stay visible. "
            + extra)
    return [md(text), code(EXPLAIN)]


def cam3d_cells() -> list:
    text = ("## The explanation on the face, in 3D\n\nThe Grad-CAM of one held-out scan's prediction, painted "
            "onto that scan's surface: every vertex takes the heat-map value at the grid pixel it falls in "
            "(`explanation_on_surface`, with `vertex_values_from_grid`, the inverse of the preprocessing's "
            "resampling). Red regions drove the prediction; rotate to see the sides of the face.")
    return [md(text), code(CAM3D)]


def embedding_cells(text: str) -> list:
    text = ("## The embedding of held-out scans (t-SNE)\n\n" + text + " Each point is one held-out scan, "
            "coloured by its true expression; features that separate the expressions form clusters. Hover a "
            "point to name its scan; click it (or move the slider, or pick a scan in the list): its point is "
            "ringed, and that scan's input maps and Grad-CAM appear beside the scatter. Clicking needs ipympl "
            "(part of the `notebooks` extra); without it the slider and the list still choose.")
    return [md(text), code(EMBED)]


def notebook(title_md: str, slug: str, body: list, subjects: int = 8, quick_subjects: int = 8,
             gpu_subjects: int = 24) -> nbformat.NotebookNode:
    cells = ([md(title_md + "\n\n" + HONESTY), code(SETUP.replace("SLUG", slug))]
             + data_cells(subjects, quick_subjects, gpu_subjects) + body + [md("---"), code(TIMING)])
    for i, c in enumerate(cells):
        c["id"] = f"{slug.replace('_', '-')}-{i:02d}"
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


# --------------------------------------------------------------------------------------------- 00 tour

def nb_tour() -> nbformat.NotebookNode:
    title = """# 00 · A tour: from one textured 3D scan to an explained prediction

A 3D facial expression recogniser takes a **textured 3D scan** of a face, turns it into 2D **maps** (depth,
surface normals, curvature, texture...) that a convolutional network can read, and predicts one of six
expressions: anger, disgust, fear, happiness, sadness, surprise. This tour walks the whole way on synthetic
faces: a scan in 3D, its maps, one clever depth map (GEMax), a small model trained on synthetic subjects, its
confusion matrix beside a published one, and what the model looked at. Boxes marked **Try this** suggest
something to change."""
    body = [
        *scan3d_cells(),
        md("**Try this:** load another scan, e.g. `scan = index.records[30].load()`, and re-run the cell above. "
           "Each file name says subject, expression and intensity (`F0001_SU04...`: subject F0001, surprise, "
           "level 4)."),
        *maps_cells("## From 3D to 2D: the attribute maps\n\nThe scan is pose-normalised, cropped around the "
                    "nose tip and resampled to a square grid; each map is one image of that grid. Depth: bright "
                    "is near. Normals: the surface's tilt along x, y, z. Shape index: -1 cup, +1 cap "
                    "(curvature). Texture: the colour photo mapped onto the surface.",
                    '("depth", "normal_x", "normal_y", "normal_z", "shape_index", "texture")', 112),
        md("## GEMax: a depth map that uses all its grey levels\n\nA plain depth map spends most of its 256 grey "
           "levels on depths where few face pixels lie. GEMax (Jiao et al. 2020) merges 4096 fine depth levels "
           "into 256 so that the histogram is as flat as possible (maximum **entropy**), with no output level "
           "merging more than **τ** input levels. Move the slider: small τ is the plain map, larger τ gives more "
           "contrast (and more bits). The paper's entropies (real BU-3DFE scans) are printed beside ours."),
        code(tau_slider_code("scan")),
        md("**Try this:** drag τ to 16 and to 60 and compare the two maps: where did the contrast go?"),
        *train_cells("mffcnn", "mffcnn_2d_cv10",
                     {"epochs": 10, "size": 60}, {"epochs": 3},
                     "The model is MFF-CNN (notebook 05), small enough to train in well under half a minute on a CPU; "
                     "it reads the frontal photo only (2D), which is enough on these synthetic faces."),
        md("**Try this:** set `\"epochs\": 2` in `SETTINGS` and re-run: does the model still beat chance? "
           "What does the interval say?"),
        *results_cells("The paper here is MFF-CNN's: its confusion matrix (Fig. 4) is on CK+, real 2D video, "
                       "so only the shape of the matrix compares, not the numbers."),
        *explanation_cells("For MFF-CNN the attention map `selection` is the share of each of its 16 patches "
                           "that the L2 selection keeps."),
        *embedding_cells("The model's last features of each held-out scan, squeezed to 2D by t-SNE."),
        *cam3d_cells(),
        md("## Try this\n\n* Switch the explanation panel's method to `saliency` (input gradients) and compare it "
           "with Grad-CAM. Which one is sharper?\n* In the embedding panel, find a scan marked ✗ (wrong): do its "
           "heat maps look at the mouth and brows like the correct ones?\n* Train another paper's model: the "
           "notebooks 01-05 each tell one paper's story with the same panels."),
    ]
    return notebook(title, "00_tour", body)


# --------------------------------------------------------------------------------------------- 01 DF-CNN

def nb_dfcnn() -> nbformat.NotebookNode:
    title = """# 01 · DF-CNN: Deep Fusion CNN over six attribute maps (Li et al., IEEE TMM 2017)

**Claim.** Six facial attribute maps of a textured 3D scan (geometry, the three normal components, shape index,
texture) read by **one shared** VGG-M-style trunk and fused into a 32-d **deep feature** recognise expressions
better than hand-crafted 3D features; a linear SVM on that feature (*DF-CNN_svm*) is best (BU-3DFE: 86.86 %,
Subset I). Sharing the trunk across the six maps costs nothing in accuracy and divides the parameters by six.
Input-gradient saliency weighted by the SVM (eqs. 14-15) shows which facial regions drive each expression.

Spec: `shared/specs/dfcnn.md`; paper: `shared/papers/dfcnn_li2017.txt`."""
    body = [
        *scan3d_cells(),
        *maps_cells("## The six attribute maps\n\nPreprocessing (pose, crop around the nose tip, resampling) "
                    "then the paper's six maps. Geometry: depth; normals: bright where the surface faces +x, +y, "
                    "+z; shape index: bright caps, dark cups.", "DFCNN_MAPS", 112),
        md("## The model\n\nThe shared-trunk network at the paper's 224×224 input (random initialisation). The "
           "forward pass on zeros shows the shapes: `fusion7` is the 6×6×32 channel fusion, `features` the 32-d "
           "deep feature, `logits` the six expressions."),
        code("from ferbench.maps import DFCNN_MAPS\n\n" + model_cell("dfcnn")),
        md("## The ablation: shared against unshared trunks\n\nTable XI of the paper: one trunk for all six maps "
           "against one trunk per map. Pick the input size; the parameter counts are computed by building both "
           "models (no training)."),
        code('''import ipywidgets as widgets

from ferbench.models import create_model


def trunk_sizes(size):
    shared = sum(p.numel() for p in create_model("dfcnn", input_size=size).parameters())
    unshared = sum(p.numel() for p in create_model("dfcnn_unshared", input_size=size).parameters())
    return shared, unshared


size_slider = widgets.SelectionSlider(options=[64, 96, 128, 224], value=224, description="input size")
size_text = widgets.HTML()


def show_sizes(change=None):
    s, u = trunk_sizes(size_slider.value)
    size_text.value = (f"<pre>shared trunk  : {s:>12,} parameters\\nunshared trunks: {u:>12,} parameters "
                       f"({u / s:.1f}x)</pre>")


size_slider.observe(show_sizes, names="value")
show_sizes()
display(widgets.VBox([size_slider, size_text]))
print(size_text.value.replace("<pre>", "").replace("</pre>", ""))
print(papers.table("dfcnn", "XI"))'''),
        *train_cells("dfcnn", "bu3dfe_setting1_720",
                     {"epochs": 12, "size": 64, "lr": 1e-3, "optimizer": "adam", "batch_size": 16,
                      "recalibrate_bn": True, "model_options": {"trunk_norm": "batch"}},
                     {"epochs": 2},
                     gpu={"epochs": 30, "size": 80},
                     paper="dfcnn", why="From random initialisation the paper's LRN trunk stays at chance on a few hundred synthetic "
                     "scans, so this run uses the BatchNorm trunk (same convolutions, `trunk_norm=\"batch\"`) with "
                     "Adam, like `ferbench demo --paper dfcnn`, at a 64-pixel input."),
        *results_cells("The paper's matrix is DF-CNN_svm's on BU-3DFE Subset I (Table IV), real scans."),
        md("## The paper's explanation: SVM-weighted saliency (eqs. 14-15)\n\nA linear SVM is fitted on the "
           "32-d deep features of the training scans (DF-CNN_svm). The saliency of a scan is the gradient of "
           "that SVM's score for the true expression with respect to the input maps, summed over the six maps; "
           "it is drawn as in the paper's Fig. 6: bright texture where the saliency is high, dark blue where it "
           "is low (percentile contrast). Rows: true expression; columns: held-out examples."),
        code('''from ferbench.models.dfcnn import DFCNNSVM
from ferbench.views.explanation import modality_images
from ferbench.viz import ExplanationGridDisplay

fm = run.load_fold_model(0, device=DEVICE)
x_train, y_train = fm.inputs(fm.train)
svm = DFCNNSVM(fm.model).fit(x_train.to(DEVICE), y_train)
x_test, y_test = fm.inputs(fm.test)
acc_svm = float((np.asarray(svm.predict(x_test.to(DEVICE))) == np.asarray(y_test)).mean())
print(f"DF-CNN_svm on the held-out subjects: {100 * acc_svm:.1f} % (ferbench, synthetic; "
      f"{len(y_test)} scans)")
texture = modality_images(fm.model, x_test)["texture"]
sal = ExplanationGridDisplay.from_saliency(fm.model, x_test.to(DEVICE), svm, y_test, images=texture,
                                           synthetic=run.synthetic, per_class=3).plot()
plt.show()'''),
        *embedding_cells("The paper's Fig. 5 shows t-SNE embeddings of its features: the fused 32-d deep "
                         "features separate the expressions better than the single-map ones."),
        *explanation_cells("DF-CNN has six inputs, so six Grad-CAM maps: which map does each expression use?"),
        *cam3d_cells(),
    ]
    return notebook(title, "01_dfcnn", body, subjects=24, quick_subjects=8)


# --------------------------------------------------------------------------------------------- 02 GEMax + FA

def nb_gemax() -> nbformat.NotebookNode:
    title = """# 02 · GEMax depth maps + Facial Attention (Jiao et al., 2020)

**Claim.** A depth map quantised uniformly to 256 grey levels wastes most levels on depths where few face pixels
lie. **GEMax** keeps a 6 cm block behind the nose tip, quantises it to N = 4096 fine levels and merges them into
K = 256 output levels with **maximum entropy**, under a **distortion bound τ** (no output level merges more than
τ input levels; τ = 16 = N/K is the uniform map). The exact optimum is a dynamic programme, O(K·N·τ). With VGG-16
streams over texture and the GEMax map and a **Facial Attention** (FA) module that finds discriminative facial
parts, the paper reports 85.17 % on BU-3DFE (Table 1); τ = 20 is best (Table 5).

Spec: `shared/specs/gemax_fa.md`; paper: `shared/papers/gemax_fa_2020.txt`."""
    body = [
        *scan3d_cells(),
        *maps_cells("## Depth maps: the range image and GEMax\n\nThe plain range image beside the GEMax maps "
                    "the model reads.", '("depth",) + GEMAX_MAPS', 112),
        md("## The τ-sweep: entropy against τ, beside the paper's Table 3\n\nLarger τ relaxes the constraint, "
           "so the maximum entropy can only grow. The paper's entropies are BU-3DFE averages (real data); ours "
           "one synthetic scan, so only the trend compares."),
        code('''from ferbench.maps import GEMAX_MAPS
from ferbench.preprocess import preprocess_scan
from ferbench.viz import TauSweepDisplay

grid = preprocess_scan(scan, size=112)
sweep = TauSweepDisplay.from_scan(grid, taus=(16, 20, 30, 40, 50, 60)).plot(
    ax=plt.figure(figsize=(15, 3.4), layout="constrained"))
plt.show()
paper_h = sweep.paper_entropies or {}
print(f"{'tau':>4}  {'ferbench (synthetic)':>20}  {'paper, GEMax-FA Table 3 (BU-3DFE)':>34}")
for t, h in zip(sweep.result.taus, sweep.result.entropies):
    print(f"{t:>4}  {h:>20.3f}  {paper_h.get(str(t), float('nan')):>34.3f}")'''),
        md("## The ablation as a widget: τ\n\nMoving the slider recomputes the GEMax map (the DP takes tens of "
           "milliseconds) and its entropy beside the paper's Table 3 entropy for that τ."),
        code(tau_slider_code("grid", after='print(papers.table("gemax_fa", "5"))')),
        md("## The model\n\nVGG-16 streams over texture and the GEMax map with the Facial Attention module "
           "(`aux_logits`: the predictions of the attended parts). The paper-size model has about 59 M "
           "parameters; the forward pass uses a 128×128 input to stay quick on a CPU."),
        code(model_cell("gemax_fa", forward_size=128, note="smaller input (a multiple of 32), same architecture")),
        *train_cells("gemax_fa_stable", "bu3dfe_jiao2020",
                     {"epochs": 12, "size": 64, "lr": 1e-3, "optimizer": "adam",
                      "model_options": {"width_mult": 0.25}}, {"epochs": 2},
                     gpu={"epochs": 20}, paper="gemax_fa", why="The model is `gemax_fa_stable` (the FA network with numerically stable attention) at a "
                     "quarter of the paper's channel width and a 64-pixel input, like `ferbench demo --paper "
                     "gemax_fa`, but with Adam 1e-3: on these few synthetic subjects the preset's SGD stayed near "
                     "chance (29 %, p = 0.09, measured on 12 subjects) where Adam learns."),
        *results_cells("GEMax-FA prints no confusion matrix: its overall BU-3DFE accuracy (Table 1) is drawn "
                       "as a dashed line."),
        *explanation_cells("The `attention ...` maps are the Facial Attention module's: where it places the "
                           "discriminative parts it crops for its multi-scale branch."),
        *cam3d_cells(),
    ]
    return notebook(title, "02_gemax_fa", body, subjects=24, quick_subjects=8)


# --------------------------------------------------------------------------------------------- 03 attention transformer

def nb_attention() -> nbformat.NotebookNode:
    title = """# 03 · CNN + cross-modality spatial attention + transformer (Raimondo et al.)

**Claim.** Two modalities, **RGB texture and depth**, each through an **EfficientNet-B2** stream; a
**cross-modality spatial attention** (CMSA) block computes spatial masks from both and re-weights the RGB
features; the 9×9 feature grid becomes 81 tokens for a 4-layer **transformer encoder**. The paper reports state
of the art on BU-3DFE (Table IV) and shows, by ablation, that each module helps (Table VII). Its attention masks
show where the two modalities agree to look.

Spec: `shared/specs/attention_transformer.md`; paper: `shared/papers/cnn_attention_transformer_raimondo.txt`."""
    body = [
        *scan3d_cells(),
        *maps_cells("## The two inputs\n\nThe texture (RGB) and the depth map (bright is near).",
                    '("texture", "depth")', 112),
        md("## The model\n\nAt the paper's 260×260 input: `x_out` is the attention-weighted 9×9×352 RGB feature "
           "map, `features` the transformer's 768-d output."),
        code(model_cell("attention_transformer")),
        *train_cells("attention_transformer", "bu3dfe_setting1_720",
                     {"epochs": 10, "size": 64, "lr": 1e-3, "batch_size": 16,
                      "model_options": {"fusion": "sum_attended", "fusion_lr_scale": 0.3}}, {"epochs": 2},
                     gpu={"epochs": 20}, paper="attention_transformer", why="With random backbones the paper's fusion (depth reaches the classifier only through the "
                     "mask) stays at chance; this run uses the authors' code's fusion (`fusion=\"sum_attended\"`) "
                     "and the learning rates of `ferbench demo --paper attention_transformer`."),
        *results_cells("The paper's matrix is Fig. 12a (BU-3DFE, real scans)."),
        md("## The paper's explanation: the spatial attention masks\n\nThe CMSA masks of held-out scans, "
           "blended over the texture: `texture` and `depth` are each modality's mask, `fused` their mean (what "
           "re-weights the features). Rows: true expression; columns: held-out examples. The masks live on the "
           "backbone's feature grid, one cell per 32 input pixels: 9×9 at the paper's 260-pixel input, only 2×2 "
           "at this run's 64 pixels, so here they are coarse blobs (bilinearly resized to the image) that say "
           "which quarter of the face the model weights most; train at a larger `size` for the paper's detail."),
        code('''from ferbench.explain import attention_maps
from ferbench.views.explanation import modality_images
from ferbench.viz import ExplanationGridDisplay

fm = run.load_fold_model(0, device=DEVICE)
x_test, y_test = fm.inputs(fm.test)
att = attention_maps(fm.model, x_test.to(DEVICE))
texture = modality_images(fm.model, x_test)["texture"]
for name in ("fused", "depth"):
    if name in att:
        ExplanationGridDisplay.from_arrays(texture, np.asarray(att[name]), y_test, synthetic=run.synthetic,
                                           kind="attention", method=f"CMSA attention '{name}'", per_class=3).plot()
        plt.show()
print(f"feature grid of this run: {fm.model.grid}×{fm.model.grid} (input {x_test.shape[-1]} px); attention maps, "
      "resized to the input:", {k: tuple(np.asarray(v).shape) for k, v in att.items()})'''),
        *explanation_cells(),
        *cam3d_cells(),
    ]
    return notebook(title, "03_attention_transformer", body, subjects=24, quick_subjects=8)


# --------------------------------------------------------------------------------------------- 04 CM-CNN

def nb_cmcnn() -> nbformat.NotebookNode:
    title = """# 04 · CM-CNN: cross-modality attention fusion (Ni et al., 2022)

**Claim.** Three single-channel inputs, the **gray** image, its **LBP** code image and the **depth** map, each
through its own feature network; a **cross-modality fusion network** with six directed self-attention modules
(each modality attending to each other one) fuses them, and a **focal loss with a Gaussian soft label** trains it.
The paper reports 89.23 % on BU-3DFE (P1, Table V); its modality ablation (Table II) says all three inputs help.

Spec: `shared/specs/cmcnn.md`; paper: `shared/papers/cmcnn_ni2022.txt`."""
    body = [
        *scan3d_cells(),
        *maps_cells("## The three inputs\n\nGray, LBP (local binary pattern codes: texture micro-structure) and "
                    "depth.", "CMCNN_MAPS", 112),
        md("## The model\n\n`create_model(\"cmcnn\")` at the paper's 148×148 input."),
        code("from ferbench.maps import CMCNN_MAPS\n\n" + model_cell("cmcnn")),
        md("## The ablation as a widget: focal γ and the soft-label spacing\n\nThe loss, without retraining. "
           "Left: the Gaussian soft label of class 2 (fear) over the six class indices; with the paper's literal "
           "σ = 0.1 over indices 0..5 it is numerically one-hot, a spacing of 0.2 between classes smooths it. "
           "Right: the soft focal loss of a prediction against the probability it gives the true class; larger "
           "γ down-weights examples that are already right (γ = 0 is cross-entropy)."),
        code('''import ipywidgets as widgets

from ferbench._ipywidgets._common import new_figure, show_figure
from ferbench.models.losses import gaussian_soft_labels, soft_focal_loss

gamma = widgets.FloatSlider(value=2.0, min=0.0, max=5.0, step=0.5, description="focal γ")
spacing = widgets.SelectionSlider(options=[0.1, 0.2, 0.3, 0.5, 1.0], value=1.0, description="spacing")
loss_out = widgets.Output()


def loss_figure(g, sp):
    fig = new_figure(9, 3.0)
    a, b = fig.subplots(1, 2)
    lab = gaussian_soft_labels(torch.tensor([2]), 6, label_spacing=sp).numpy()[0]
    a.bar(range(6), lab, color="#1f77b4")
    a.set_xticks(range(6), ["AN", "DI", "FE", "HA", "SA", "SU"])
    a.set_title(f"soft label of FE, spacing {sp}", fontsize=9)
    p = np.linspace(0.02, 0.98, 49)
    for gg, style in ((0.0, ":"), (g, "-")):
        logits = torch.log(torch.tensor(np.stack([(1 - p) / 5] * 2 + [p] + [(1 - p) / 5] * 3, 1)))
        losses = [float(soft_focal_loss(logits[i:i + 1], torch.tensor([2]), gamma=gg, label_spacing=sp))
                  for i in range(len(p))]
        b.plot(p, losses, style, label=f"γ = {gg}")
    b.set_xlabel("probability given to the true class")
    b.set_ylabel("loss")
    b.legend(fontsize=8)
    b.set_title("soft focal loss", fontsize=9)
    return fig, lab


def redraw(change=None):
    fig, lab = loss_figure(gamma.value, spacing.value)
    show_figure(loss_out, fig)


gamma.observe(redraw, names="value")
spacing.observe(redraw, names="value")
redraw()
display(widgets.VBox([widgets.HBox([gamma, spacing]), loss_out]))
for sp in (1.0, 0.2):
    print(f"soft label, spacing {sp}:", np.round(gaussian_soft_labels(torch.tensor([2]), 6, label_spacing=sp).numpy()[0], 4))'''),
        *train_cells("cmcnn", "bu3dfe_setting1_720",
                     {"epochs": 12, "size": 64, "lr": 3e-4, "optimizer": "adam", "batch_size": 8}, {"epochs": 2},
                     gpu={"epochs": 30}, paper="cmcnn", why="The paper's protocol P1 uses only the highest intensity (6 scans per subject); with few "
                     "synthetic subjects this run uses levels 3 and 4 (`bu3dfe_setting1_720`), a 64-pixel input "
                     "and Adam 3e-4 (the paper's SGD diverges at small batches), like `ferbench demo --paper cmcnn`."),
        *results_cells("CM-CNN's BU-3DFE matrix (Fig. 6b) has no recoverable cells, so it is drawn empty; its "
                       "overall P1 accuracy (Table V) is the dashed line."),
        *explanation_cells("The `attention X_Y` maps are the cross-modality attention modules: for modality X "
                           "attending to Y, how much attention each position of Y receives on average."),
        *cam3d_cells(),
    ]
    return notebook(title, "04_cmcnn", body, subjects=24, quick_subjects=8)


# --------------------------------------------------------------------------------------------- 05 MFF-CNN

def nb_mffcnn() -> nbformat.NotebookNode:
    title = """# 05 · MFF-CNN: multi-feature fusion CNN (Zou et al., 2021)

**Claim.** One 60×60 gray face crop, two branches: an **image branch** over the whole face and a **patch
branch** that cuts it into 16 overlapping 24×24 patches, describes each with 32 feature maps (512 "feature
vectors") and keeps only the 384 with the largest **L2 norm**, so the classifier reads the informative parts. The
two branches' logits are summed. The paper reports 99.7 % on CK+ (Table 2) and, by ablation (Table 6), that both
branches and the selection help. A **2D-only** method: in ferbench it is the texture baseline.

Spec: `shared/specs/mffcnn.md`; paper: `shared/papers/mffcnn_zou2021.txt`."""
    body = [
        *scan3d_cells(),
        md("## The input and its 16 patches\n\nThe frontal gray image at 60×60 and the 16 overlapping patches "
           "(24×24, stride 12) the patch branch reads."),
        code('''from matplotlib.patches import Rectangle

from ferbench.maps import compute_maps
from ferbench.preprocess import preprocess_scan

grid = preprocess_scan(scan, size=60)
gray = compute_maps(grid, names=["gray"])["gray"]
fig, axes = plt.subplots(1, 2, figsize=(7, 3.6), layout="constrained")
axes[0].imshow(gray, cmap="gray", vmin=0, vmax=1)
axes[0].set_title(title_label("gray, 60x60", scan.meta.synthetic), fontsize=9)
axes[1].imshow(gray, cmap="gray", vmin=0, vmax=1)
for i, (r, c) in enumerate([(r, c) for r in range(0, 37, 12) for c in range(0, 37, 12)]):
    axes[1].add_patch(Rectangle((c - 0.5, r - 0.5), 24, 24, fill=False, lw=0.8, color=plt.cm.tab20(i % 20)))
axes[1].set_title("16 patches, 24x24, stride 12", fontsize=9)
for a in axes:
    a.axis("off")
plt.show()'''),
        md("## The model\n\n`z_img` and `z_patch` are the two branches' logits (summed into `logits`); "
           "`patch_norms` the L2 norms of the 512 patch feature vectors, `selection` the 384 kept."),
        code(model_cell("mffcnn")),
        *train_cells("mffcnn", "mffcnn_2d_cv10", {"epochs": 10, "size": 60}, {"epochs": 3},
                     "The paper's CK+ protocol mapped onto subject folds of the synthetic frontal images "
                     "(levels 2-4)."),
        *results_cells("The paper's matrix is Fig. 4 (CK+, real 2D video)."),
        md("## The paper's explanation and ablation: which patches the L2 selection keeps\n\nFor four held-out "
           "scans of the trained model: the share of each patch's 32 feature vectors among the kept ones (red: "
           "all kept, blue: none), over the face. The slider changes **how many vectors are kept** (the paper: "
           "384 of 512), ranking the same L2 norms, without retraining; the classifier was trained on 384, so "
           "only the map changes. Few kept vectors show which patches the network rates most informative."),
        code('''import ipywidgets as widgets

from ferbench._ipywidgets._common import new_figure, show_figure
from ferbench.viz.explanations import heat_overlay

fm = run.load_fold_model(0, device=DEVICE)
x4, y4 = fm.inputs(fm.test[:4])
with torch.no_grad():
    out4 = fm.model.forward_train(x4.to(DEVICE))
norms = out4["patch_norms"].cpu()                 # (4, 512): 16 patches x 32 feature maps
n_patches = fm.model.n_patches
keep_slider = widgets.IntSlider(value=fm.model.keep, min=16, max=512, step=16, description="kept vectors")
keep_out = widgets.Output()


def kept_share(k):
    """(B, 4, 4): the share of each patch's vectors among the k with the largest L2 norm."""
    idx = torch.argsort(-norms, dim=1, stable=True)[:, :int(k)]
    mask = torch.zeros_like(norms, dtype=torch.bool).scatter_(1, idx, True)
    r = int(n_patches ** 0.5)
    return mask.view(len(norms), n_patches, -1).float().mean(-1).view(-1, r, r).numpy()


def redraw_keep(change=None):
    share = kept_share(keep_slider.value)
    fig = new_figure(8.4, 2.7)
    axes = fig.subplots(1, 4)
    for j, a in enumerate(axes):
        img = x4[j, 0].numpy()
        img = np.repeat(((img - img.min()) / (np.ptp(img) or 1.0))[..., None], 3, axis=-1)
        a.imshow(heat_overlay(img, share[j], 0.5))
        a.set_title(f"held-out {j + 1}: {fm.classes[int(y4[j])]}", fontsize=8)
        a.axis("off")
    fig.suptitle(title_label(f"kept {keep_slider.value} of 512 patch vectors (L2 selection)", run.synthetic),
                 fontsize=9)
    show_figure(keep_out, fig)


keep_slider.observe(redraw_keep, names="value")
redraw_keep()
display(widgets.VBox([keep_slider, keep_out]))
for k in (64, 384):
    s = kept_share(k)[0]
    print(f"keep {k:>3} of 512: scan 1 keeps vectors of {int((s > 0).sum())} of {n_patches} patches; "
          f"most-kept patch row {np.unravel_index(s.argmax(), s.shape)[0] + 1}")
print(papers.table("mffcnn", "6"))'''),
        *explanation_cells("The `attention selection` map is the same patch selection for the chosen scan."),
        *cam3d_cells(),
        md("## Panel: any paper's tables\n\nPick a paper and a table; the text is the transcription, headed by "
           "its table and source."),
        code('''from ferbench._ipywidgets import PaperTablePanel

table_panel = PaperTablePanel("mffcnn", "2")
display(table_panel.widget)
print(papers.table("mffcnn", "2"))'''),
    ]
    return notebook(title, "05_mffcnn", body, subjects=8, quick_subjects=8)


NOTEBOOKS = {
    "00_tour.ipynb": nb_tour,
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
