"""The numpydoc sections MLPClassifier and MLPRegressor share (parameters, fitted
attributes), filled into both docstrings by ``cymlp.estimators``."""

_PARAMETER_DOCS = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', 'elu', 'gelu', \
'silu', 'softplus'}, default='relu'
        Activation of the hidden layers.  Beyond scikit-learn's four: 'leaky_relu'
        (slope 0.01 below 0), 'elu' (alpha 1), 'gelu' (the exact form ``u Phi(u)``,
        not the tanh approximation), 'silu' (``u logistic(u)``) and 'softplus'
        (``log(1 + exp(u))``).
    solver : {'lbfgs', 'sgd', 'adam', 'adamw'}, default='adam'
        Weight optimizer; 'lbfgs' runs ``scipy.optimize.minimize`` on the compiled
        loss and gradient; 'adamw' is Adam with decoupled weight decay
        (``weight_decay``; not in scikit-learn).
    alpha : float, default=0.0001
        Strength of the L2 penalty on the coefficients (not the intercepts).
    batch_size : int or 'auto', default='auto'
        Mini-batch size for the stochastic solvers; 'auto' is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine', 'step'}, \
default='constant'
        Step-size schedule: 'invscaling' and 'adaptive' for 'sgd' (as scikit-learn);
        'cosine' and 'step' (not in scikit-learn) for 'sgd', 'adam' and 'adamw',
        computed per batch in the compiled step: 'cosine' rises linearly over
        ``warmup_epochs`` epochs, then decays as a half cosine to 0 at ``max_iter``
        epochs; 'step' multiplies by ``step_gamma`` every ``step_epochs`` epochs.
        (Each ``partial_fit`` call counts as an epoch.)
    learning_rate_init : float, default=0.001
        The initial (base) step size of 'sgd', 'adam' and 'adamw'.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Epochs for the stochastic solvers, iterations for 'lbfgs'.
    shuffle : bool, default=True
        Whether to shuffle the samples before every epoch (stochastic solvers).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffles, the early-stopping split and the
        dropout masks; the same seed draws what scikit-learn draws.
    tol : float, default=1e-4
        Tolerance: training stops when the loss (or the validation score, with early
        stopping) improves by less than ``tol`` for ``n_iter_no_change`` epochs;
        'lbfgs' uses it as ``gtol``.
    verbose : bool, default=False
        Print the loss (and validation score) after every epoch.
    warm_start : bool, default=False
        Continue from the fitted weights on the next ``fit``.
    momentum : float, default=0.9
        Momentum of 'sgd', in [0, 1].
    nesterovs_momentum : bool, default=True
        Whether 'sgd' uses Nesterov's momentum.
    early_stopping : bool, default=False
        Stop when the validation score stops improving, and keep the weights of its
        best epoch; the validation set is ``X_val`` if given to ``fit``, else
        ``validation_fraction`` of the training data (stochastic solvers).
    validation_fraction : float, default=0.1
        Share of the training data set aside for early stopping, in [0, 1).
    beta_1 : float, default=0.9
        Decay of Adam's (and AdamW's) first moment estimates, in [0, 1).
    beta_2 : float, default=0.999
        Decay of Adam's (and AdamW's) second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Added to the root of Adam's second moment estimate, > 0.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping.
    max_fun : int, default=15000
        Maximum number of loss evaluations for 'lbfgs'.
    weight_decay : float, default=0.01
        AdamW's decoupled weight decay: each step first multiplies the coefficients
        (not the intercepts) by ``1 - lr * weight_decay``, ``lr`` the scheduled rate.
        Used by solver='adamw' only; ``alpha`` still adds its L2 term to the loss (set
        alpha=0 for pure AdamW).
    warmup_epochs : int, default=0
        Linear warm-up epochs of learning_rate='cosine' (fewer than ``max_iter``).
    step_epochs : int, default=10
        Epochs between two decays of learning_rate='step'.
    step_gamma : float, default=0.1
        Factor of each decay of learning_rate='step', in (0, 1].
    dropout : float, array-like of float or None, default=None
        Inverted dropout on the hidden layers while training with 'sgd', 'adam' or
        'adamw': a rate in [0, 1), or one per hidden layer; kept units are scaled by
        ``1 / (1 - rate)``, and ``predict`` uses every unit.  The masks come from a
        counter-based generator (seeded from ``random_state``, keyed by batch, layer,
        row and unit), so a fit gives the same results for any thread count.  Not in
        scikit-learn.
"""

_ATTRIBUTE_DOCS = """
    loss_ : float
        The loss after the last epoch (iteration for 'lbfgs'), data part plus L2 term,
        on scikit-learn's scale.
    best_loss_ : float or None
        The lowest ``loss_`` reached (None with early stopping).
    loss_curve_ : list of float
        ``loss_`` after every epoch (stochastic solvers).
    validation_scores_ : list of float or None
        The validation score after each epoch, when a validation set is used (early
        stopping, or ``X_val`` given to ``fit``): accuracy or R², except for a
        regressor's 'absolute_error', 'huber', 'quantile' and 'gamma' losses, where it
        is minus the validation loss's data part (R² would favour the conditional
        mean).
    validation_loss_curve_ : list of float or None
        The loss of ``loss_curve_`` on the validation set after each epoch: its data
        part on the validation samples plus the same L2 term.  Not in scikit-learn.
    best_validation_score_ : float or None
        The best validation score (early stopping), else None.
    stopped_early_ : bool
        Set by ``partial_fit`` with ``early_stopping=True``: whether this call ran out
        of patience and restored the best call's coefficients.  Not in scikit-learn.
    t_ : int
        Training samples seen by the solver.
    coefs_ : list of ndarray of shape (n_in, n_out)
        The coefficient matrix of each layer: views of the compiled network's
        parameters (assigning new arrays is allowed).
    intercepts_ : list of ndarray of shape (n_out,)
        The intercept vector of each layer, views like ``coefs_``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features seen during ``fit``, when X had string column names.
    n_iter_ : int
        Epochs (or L-BFGS iterations) run.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        The output activation: 'softmax' or 'logistic' (classifier), 'identity' or
        'exp' (regressor).
"""

_PARTIAL_FIT_VALIDATION_DOCS = """
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            A validation set: this call records its score in ``validation_scores_``
            and its loss in ``validation_loss_curve_``.  With ``early_stopping=True``
            it is kept for later calls that give none; without one, the first call
            holds out ``validation_fraction`` of its rows and keeps them.  After more
            than ``n_iter_no_change`` calls without a better score (by ``tol``), the
            best call's coefficients are restored, ``stopped_early_`` is True and a
            ``ConvergenceWarning`` says so; the next call starts a new patience window.
        y_val : array-like, default=None
            Targets of ``X_val``; required with it.
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation samples (in the score and the loss).
"""
